#include "data/sources/read_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <zlib.h>

#include "mae/core/error.h"

namespace mae::data::detail {

std::string read_config_file(const std::string& path, const std::string& key) {
  MAE_CHECK_USAGE(std::filesystem::is_regular_file(path), "'", path, "' does not exist or is not a file; check ",
                  key, " and data.root");
  gzFile file = gzopen(path.c_str(), "rb");
  MAE_CHECK_USAGE(file != nullptr, "cannot open '", path, "' (", std::strerror(errno), "); check ", key);
  gzbuffer(file, 1 << 17);
  std::string bytes;
  char chunk[1 << 16];
  int n = 0;
  while ((n = gzread(file, chunk, sizeof(chunk))) > 0) bytes.append(chunk, static_cast<size_t>(n));
  int code = Z_OK;
  const std::string message = gzerror(file, &code);
  gzclose(file);
  MAE_CHECK(n == 0 && (code == Z_OK || code == Z_STREAM_END), "'", path, "': read failed (", message,
            "); the file is truncated or corrupt, download it again");
  return bytes;
}

std::string join_root(const std::string& root, const std::string& name) {
  if (root.empty()) return name;
  return (std::filesystem::path(root) / name).string();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    const auto first = line.find_first_not_of(" \t\r");
    const auto last = line.find_last_not_of(" \t\r");
    lines.push_back(first == std::string::npos ? std::string() : line.substr(first, last - first + 1));
    begin = end + 1;
  }
  return lines;
}

}  // namespace mae::data::detail
