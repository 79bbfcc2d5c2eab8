// List files in the EasyCV format: one image path per line, relative to a root folder, optionally
// followed by an integer label.
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "mae/core/error.h"
#include "mae/data/sources/file_source.h"
#include "data/sources/read_file.h"

namespace mae::data {
namespace {

bool parse_label(const std::string& token, int64_t* label) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(token.c_str(), &end, 10);
  if (errno != 0 || end == token.c_str() || *end != '\0' || v < 0) return false;
  *label = v;
  return true;
}

}  // namespace

std::unique_ptr<FileSource> read_image_lists(const std::string& root, const std::vector<std::string>& list_files,
                                             std::vector<std::string> class_names) {
  MAE_CHECK_USAGE(!list_files.empty(), "no list files given; set data.train_files / data.val_files");
  std::vector<FileEntry> entries;
  std::vector<std::string> lists;
  std::string labelled_at, unlabelled_at;  // first line of each kind, to report a mix
  for (const auto& name : list_files) {
    const std::string path = detail::join_root(root, name);
    const auto lines = detail::split_lines(detail::read_config_file(path, "data.train_files / data.val_files"));
    const int32_t list = static_cast<int32_t>(lists.size());
    lists.push_back(path);
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      if (line.empty() || line[0] == '#') continue;
      const std::string where = str(path, ":", i + 1);
      std::istringstream fields(line);
      std::vector<std::string> tokens;
      for (std::string t; fields >> t;) tokens.push_back(t);
      MAE_CHECK_USAGE(tokens.size() <= 2, where, ": expected `path` or `path label`, got ", tokens.size(),
                      " fields (paths with spaces are not supported): '", line, "'");
      FileEntry entry;
      entry.path = detail::join_root(root, tokens[0]);
      entry.list = list;
      entry.line = static_cast<int32_t>(i + 1);
      if (tokens.size() == 2) {
        MAE_CHECK_USAGE(parse_label(tokens[1], &entry.label), where, ": label '", tokens[1],
                        "' is not an integer >= 0");
        if (labelled_at.empty()) labelled_at = where;
      } else if (unlabelled_at.empty()) {
        unlabelled_at = where;
      }
      MAE_CHECK_USAGE(labelled_at.empty() || unlabelled_at.empty(), unlabelled_at, " has no label but ", labelled_at,
                      " has one; label every line or none");
      entries.push_back(std::move(entry));
    }
  }
  return std::make_unique<FileSource>(std::move(entries), std::move(lists), std::move(class_names),
                                      str("list file ", lists.front(), lists.size() > 1 ? " (and others)" : ""));
}

}  // namespace mae::data
