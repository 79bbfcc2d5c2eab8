// Reads the members of a tar archive (ustar, GNU and pax, as Python's tarfile, GNU tar and the
// webdataset package write them) from untrusted bytes: 512-byte headers with verified checksums,
// octal or base-256 sizes, pax `path`/`size` records and GNU long names (`L`) honoured, data padded
// to 512 bytes. Every offset is checked against the input (byte_source.h), so a corrupt or
// truncated archive throws mae::Error naming the archive and the byte where it broke.
#pragma once

#include <cstdint>
#include <string>

#include "mae/io/byte_source.h"

namespace mae::io {

struct TarMember {
  std::string name;     // full path inside the archive (pax path, GNU long name or ustar prefix/name)
  uint64_t offset = 0;  // of the member's data in the archive
  uint64_t size = 0;    // bytes of data
  char type = '0';      // the header's typeflag ('0' or '\0': regular file, '5': directory, ...)
  bool is_file() const { return type == '0' || type == '\0' || type == '7'; }
};

class TarReader {
 public:
  // Reads `source` from `start` (a header boundary). The source must outlive the reader.
  explicit TarReader(const ByteSource& source, uint64_t start = 0) : source_(source), position_(start) {}
  // The next member (of any type; pax and GNU long-name records are folded into the member they
  // describe). False at the end of the archive: a zero block, or the end of the input at a header
  // boundary. Throws mae::Error for a bad checksum, a malformed field or a member that runs past
  // the end of the input (a truncated archive).
  bool next(TarMember* out);
  // Offset of the next header.
  uint64_t position() const { return position_; }

 private:
  const ByteSource& source_;
  uint64_t position_;
};

}  // namespace mae::io
