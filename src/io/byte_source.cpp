#include "mae/io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MAE_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno), "; check the path and its permissions");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(str("'", path, "' is not a regular file; give the path of a file"));
  }
  return std::unique_ptr<FileSource>(new FileSource(path, static_cast<uint64_t>(st.st_size), fd));
}

FileSource::~FileSource() { ::close(fd_); }

void FileSource::read_unchecked(uint64_t offset, uint64_t n, void* dst) const {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    MAE_CHECK(got > 0, origin(), ": reading ", n, " bytes at offset ", offset, " failed",
              got < 0 ? str(" (", std::strerror(errno), ")") : std::string(" (end of file)"),
              "; the file changed while it was read or the disk failed");
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<uint64_t>(got);
  }
}

}  // namespace mae::io
