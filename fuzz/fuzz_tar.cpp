// libFuzzer target: the tar reader (the shards of data.source=wds) on arbitrary bytes. A mae::Error
// is the expected answer to bad input; any other exception, a crash or a sanitizer report is a bug.
// Every member it returns must describe data inside the input, and the reader must move forward.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "mae/core/error.h"
#include "mae/io/tar_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mae::io::MemorySource source(data, size, "fuzz");
  try {
    mae::io::TarReader reader(source);
    mae::io::TarMember member;
    uint64_t last = 0;
    while (reader.next(&member)) {
      if (!source.contains(member.offset, member.size)) std::abort();
      if (reader.position() <= last) std::abort();
      last = reader.position();
    }
  } catch (const mae::Error&) {
  }
  return 0;
}
