#include "mae/io/byte_source.h"

#include <cstring>

#include "mae/core/error.h"

namespace mae::io {

void ByteSource::read(uint64_t offset, uint64_t n, void* dst, const std::string& what) const {
  MAE_CHECK(contains(offset, n), origin_, ": ", what, " (bytes ", offset, "..+", n, ") lies outside the ", size_,
            "-byte file; the file is truncated or corrupt");
  if (n > 0) read_unchecked(offset, n, dst);
}

std::string ByteSource::read_string(uint64_t offset, uint64_t n, const std::string& what) const {
  MAE_CHECK(contains(offset, n), origin_, ": ", what, " (bytes ", offset, "..+", n, ") lies outside the ", size_,
            "-byte file; the file is truncated or corrupt");
  std::string out(n, '\0');
  if (n > 0) read_unchecked(offset, n, out.data());
  return out;
}

void MemorySource::read_unchecked(uint64_t offset, uint64_t n, void* dst) const {
  std::memcpy(dst, data_ + offset, n);
}

std::unique_ptr<FileSource> FileSource::open(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MAE_CHECK(in.good(), "cannot open '", path, "'; check the path and its permissions");
  const auto end = in.tellg();
  MAE_CHECK(end >= 0, "cannot determine the size of '", path, "'");
  return std::unique_ptr<FileSource>(new FileSource(path, static_cast<uint64_t>(end), std::move(in)));
}

void FileSource::read_unchecked(uint64_t offset, uint64_t n, void* dst) const {
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  MAE_CHECK(in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n)), origin(), ": reading ", n,
            " bytes at offset ", offset, " failed; the file changed while it was read or the disk failed");
}

}  // namespace mae::io
