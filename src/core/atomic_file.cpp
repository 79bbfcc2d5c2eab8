#include "mae/core/atomic_file.h"

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
      out.flush();
      MAE_CHECK(out.good(), "writing '", tmp, "' failed (disk full?); '", path, "' was left unchanged");
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    MAE_CHECK(fd >= 0 && ::fsync(fd) == 0, "cannot sync '", tmp, "': ", std::strerror(errno));
    ::close(fd);
    MAE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path,
              "': ", std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace mae::core
