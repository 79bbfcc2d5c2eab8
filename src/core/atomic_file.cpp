#include "mae/core/atomic_file.h"

#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <streambuf>
#include <vector>

#include "mae/core/error.h"

namespace mae::core {
namespace {

// Output to a file descriptor that asks the kernel to start writing every kWritebackBytes out to
// the disk as soon as they are written, so that the disk works while the rest is produced and the
// final fsync finds little left (a checkpoint of gigabytes otherwise sits in the page cache until
// fsync, and the copying and the disk follow each other instead of overlapping).
class WritebackBuffer : public std::streambuf {
 public:
  explicit WritebackBuffer(int fd) : fd_(fd), buffer_(1 << 20) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  // The errno of the first failed write, 0 if none failed.
  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n < epptr() - pptr()) {
      std::memcpy(pptr(), s, static_cast<size_t>(n));
      pbump(static_cast<int>(n));
      return n;
    }
    return flush_buffer() && write_all(s, static_cast<size_t>(n)) ? n : 0;
  }
  int sync() override { return flush_buffer() ? 0 : -1; }
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
    if (!flush_buffer()) return pos_type(off_type(-1));
    const off_t at = ::lseek(fd_, off, dir == std::ios_base::beg ? SEEK_SET : dir == std::ios_base::cur ? SEEK_CUR : SEEK_END);
    if (at < 0) return pos_type(off_type(-1));
    position_ = at;
    return pos_type(at);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override { return seekoff(off_type(pos), std::ios_base::beg, which); }

 private:
  static constexpr off_t kWritebackBytes = 32 << 20;

  bool flush_buffer() {
    const auto n = static_cast<size_t>(pptr() - pbase());
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return n == 0 || write_all(buffer_.data(), n);
  }
  bool write_all(const char* s, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, s, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        if (error_ == 0) error_ = w < 0 ? errno : EIO;
        return false;
      }
      s += w, n -= static_cast<size_t>(w), position_ += w;
    }
    if (position_ - started_ >= kWritebackBytes) {  // a hint: its failure shows at fsync
      const int saved = errno;
      ::sync_file_range(fd_, started_, position_ - started_, SYNC_FILE_RANGE_WRITE);
      errno = saved;
      started_ = position_;
    }
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  off_t position_ = 0, started_ = 0;
  int error_ = 0;
};

// fsync of a file or folder; false with errno set on failure.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool synced = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return synced;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = str(path, ".tmp-", ::getpid());
  int fd = -1;
  try {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    MAE_CHECK(fd >= 0, "cannot create '", tmp, "': ", std::strerror(errno), "; check that the folder exists and is writable");
    {
      WritebackBuffer buffer(fd);
      std::ostream out(&buffer);
      std::string detail;  // what the writer said, when a failed write made it throw
      try {
        write(out);
      } catch (const Error& e) {
        if (buffer.error() == 0) throw;
        detail = str(" (", e.what(), ")");
      }
      out.flush();  // a full disk shows here at the latest
      MAE_CHECK(out.good() && detail.empty(), "writing '", tmp, "' failed: ",
                buffer.error() != 0 ? std::strerror(buffer.error()) : "the stream failed", detail, "; '", path,
                "' was left unchanged; free disk space (or raise the file size limit, ulimit -f) and retry");
    }
    const bool synced = ::fsync(fd) == 0;
    const int sync_errno = errno;
    ::close(fd);
    fd = -1;
    MAE_CHECK(synced, "cannot sync '", tmp, "': ", std::strerror(sync_errno), "; '", path, "' was left unchanged");
    MAE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  // The rename itself survives a power cut once the folder is synced (best effort: some file
  // systems refuse to sync a folder).
  const auto folder = std::filesystem::path(path).parent_path();
  sync_path(folder.empty() ? "." : folder.string(), O_RDONLY | O_DIRECTORY);
}

void create_parent_folder(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  MAE_CHECK(!error, "cannot create the folder '", parent.string(), "' for '", path, "': ", error.message());
}

}  // namespace mae::core
