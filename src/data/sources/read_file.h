// Private to src/data: whole-file reads of configured files (IDX, CIFAR, list and class-name files).
#pragma once

#include <string>
#include <vector>

namespace mae::data::detail {

// The file's bytes, gunzipped when it is gzip (zlib reads plain files as they are). A missing or
// unreadable file throws UsageError naming `path` and the config key `key` to fix.
std::string read_config_file(const std::string& path, const std::string& key);

// `name` joined to `root` unless absolute or root is empty.
std::string join_root(const std::string& root, const std::string& name);

// Lines of a text file with CR/LF stripped, surrounding blanks trimmed (blank lines kept, so that
// line numbers stay right).
std::vector<std::string> split_lines(const std::string& text);

}  // namespace mae::data::detail
