// libFuzzer target: the .npy header reader on arbitrary bytes (the arrays of the npy and npy_files
// data sources). A mae::Error is the expected answer to bad input; any other exception, a crash
// or a sanitizer report is a bug. A header that passes must describe data inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "mae/core/error.h"
#include "mae/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mae::io::MemorySource source(data, size, "fuzz");
  try {
    const auto header = mae::io::read_npy_header(source);
    if (!source.contains(header.data_offset, header.data_bytes)) std::abort();
  } catch (const mae::Error&) {
  }
  return 0;
}
