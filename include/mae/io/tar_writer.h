// Writes a tar archive member by member: POSIX ustar headers, with a pax header in front of a
// member whose name does not fit ustar's 100 bytes (what Python's tarfile writes by default), data
// padded to 512 bytes, and the two zero blocks that end an archive. What it writes, tarfile and
// GNU tar read, and so does tar_reader.h.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace mae::io {

class TarWriter {
 public:
  explicit TarWriter(std::ostream& out) : out_(out) {}
  // Appends a regular file (mode 0644, mtime `mtime`, owner 0). Throws mae::Error when the stream fails.
  void add(const std::string& name, const std::string& data, uint64_t mtime = 0);
  // Writes the end-of-archive marker; nothing may be added after it.
  void finish();
  // Bytes written so far (headers, data, padding).
  uint64_t bytes() const { return bytes_; }
  // What add(name, data) adds to bytes(): headers and padded data.
  static uint64_t member_bytes(const std::string& name, uint64_t data_size);

 private:
  void write_header(const std::string& name, uint64_t size, char type, uint64_t mtime);
  void write_padded(const std::string& data);
  std::ostream& out_;
  uint64_t bytes_ = 0;
  bool finished_ = false;
};

}  // namespace mae::io
