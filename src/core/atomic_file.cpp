#include "mae/core/atomic_file.h"

#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "mae/core/error.h"

namespace mae::core {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = str(path, ".tmp-", ::getpid());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      MAE_CHECK(out.good(), "cannot create '", tmp, "': ", std::strerror(errno),
                "; check that the folder exists and is writable");
      write(out);
      errno = 0;
      out.close();  // flushes; a full disk shows here at the latest
      MAE_CHECK(!out.fail(), "writing '", tmp, "' failed: ", errno != 0 ? std::strerror(errno) : "the stream failed",
                "; '", path, "' was left unchanged; free disk space and retry");
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    MAE_CHECK(fd >= 0, "cannot reopen '", tmp, "' to sync it: ", std::strerror(errno));
    const bool synced = ::fsync(fd) == 0;
    const int sync_errno = errno;
    ::close(fd);
    MAE_CHECK(synced, "cannot sync '", tmp, "': ", std::strerror(sync_errno), "; '", path, "' was left unchanged");
    MAE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path,
              "': ", std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

void create_parent_folder(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  MAE_CHECK(!error, "cannot create the folder '", parent.string(), "' for '", path, "': ", error.message());
}

}  // namespace mae::core
