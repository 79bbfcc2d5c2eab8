// libFuzzer target: the safetensors reader on arbitrary bytes. A mae::Error is the expected answer
// to bad input; any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mae/core/error.h"
#include "mae/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = mae::io::parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const auto& [name, t] : file.tensors) (void)t.sum();  // touch every byte read
  } catch (const mae::Error&) {
  }
  return 0;
}
