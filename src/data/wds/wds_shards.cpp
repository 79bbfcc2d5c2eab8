#include "mae/data/wds/wds_shards.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/parse.h"
#include "mae/core/rng.h"
#include "mae/data/wds/wds_sample.h"
#include "data/sources/read_file.h"

namespace mae::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kIndexFormat = "mae-wds-index";
constexpr int64_t kMaxShards = 10'000'000;

std::vector<std::string> expand_range(const std::string& body, const std::string& pattern) {
  const size_t dots = body.find("..");
  const std::string a = body.substr(0, dots), b = body.substr(dots + 2);
  int64_t lo = 0, hi = 0;
  MAE_CHECK_USAGE(!a.empty() && !b.empty() && a.find_first_not_of("0123456789") == std::string::npos &&
                      b.find_first_not_of("0123456789") == std::string::npos && core::parse_int(a, &lo) &&
                      core::parse_int(b, &hi) && lo <= hi && hi - lo < kMaxShards,
                  "shard pattern '", pattern, "': {", body, "} is not a range {first..last} of numbers, first <= last");
  std::vector<std::string> out;
  for (int64_t i = lo; i <= hi; ++i) {
    std::string n = std::to_string(i);
    if (n.size() < a.size()) n.insert(0, a.size() - n.size(), '0');
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& body) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = body.find(',', begin);
    out.push_back(body.substr(begin, comma - begin));
    if (comma == std::string::npos) return out;
    begin = comma + 1;
  }
}

// A shard's name in an index in `folder`.
std::string relative_name(const std::string& shard, const fs::path& folder) {
  return fs::absolute(shard).lexically_normal().lexically_relative(fs::absolute(folder).lexically_normal()).string();
}

bool is_tar(const fs::path& p) { return p.extension() == ".tar"; }

std::string cache_folder() {
  const char* home = std::getenv("HOME");
  return (fs::path(home ? home : "/tmp") / ".cache" / "mae" / "wds").string();
}

// The index's counts for `paths` when it lists each one with its current size, else an empty set.
ShardSet read_index(const std::string& index_path, const std::vector<std::string>& paths,
                    const std::vector<uint64_t>& sizes) {
  ShardSet set;
  std::ifstream in(index_path);
  if (!in) return set;
  const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || json.value("format", "") != kIndexFormat) {
    core::log_warning(str("data: ", index_path, " is not a mae-wds-index; counting the shards instead"));
    return set;
  }
  std::map<std::string, std::pair<int64_t, uint64_t>> listed;  // name -> (samples, bytes)
  for (const auto& s : json.value("shards", nlohmann::json::array())) {
    if (s.is_object() && s.contains("name") && s["name"].is_string() && s.contains("samples") && s["samples"].is_number_integer() &&
        s.contains("bytes") && s["bytes"].is_number_unsigned()) {
      listed[s["name"].get<std::string>()] = {s["samples"].get<int64_t>(), s["bytes"].get<uint64_t>()};
    }
  }
  const fs::path folder = fs::path(index_path).parent_path();
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string name = relative_name(paths[i], folder);
    auto it = listed.find(name);
    if (it == listed.end()) it = listed.find(fs::path(paths[i]).filename().string());
    if (it == listed.end() || it->second.second != sizes[i] || it->second.first < 0) return {};
    set.shards.push_back(ShardEntry{paths[i], it->second.first, sizes[i]});
  }
  for (const auto& c : json.value("classes", nlohmann::json::array())) {
    if (c.is_string()) set.class_names.push_back(c.get<std::string>());
  }
  set.origin = index_path;
  return set;
}

// Where a counting pass caches its counts: beside the shards when their index name is free and the
// folder writable, else under ~/.cache/mae/wds, named by a hash of the shard paths and sizes.
std::string count_cache_path(const std::vector<std::string>& paths, const std::vector<uint64_t>& sizes) {
  const std::string beside = shard_index_path(paths.front());
  if (!fs::exists(beside) && ::access(fs::path(beside).parent_path().c_str(), W_OK) == 0) return beside;
  uint64_t h = 0x6d6165;
  for (size_t i = 0; i < paths.size(); ++i) {
    for (unsigned char c : fs::absolute(paths[i]).string()) h = core::splitmix64(h ^ c);
    h = core::splitmix64(h ^ sizes[i]);
  }
  char name[40];
  std::snprintf(name, sizeof(name), "%016llx.index.json", static_cast<unsigned long long>(h));
  return (fs::path(cache_folder()) / name).string();
}

ShardSet count_shards(const std::vector<std::string>& paths, const std::vector<uint64_t>& sizes, const std::string& label_field) {
  core::log_info(str("data: counting the samples of ", paths.size(), " shard(s) once (no index; `mae pack` writes one)"));
  ShardSet set;
  for (size_t i = 0; i < paths.size(); ++i) {
    WdsShardReader reader(paths[i], label_field);
    WdsSample sample;
    int64_t n = 0;
    while (reader.next(&sample, /*read_image=*/false)) ++n;
    if (reader.truncated()) core::log_warning(str("data: shard ", paths[i], " ends early: ", reader.error()));
    set.shards.push_back(ShardEntry{paths[i], n, sizes[i]});
  }
  set.origin = "a counting pass";
  return set;
}

}  // namespace

int64_t ShardSet::samples() const {
  int64_t n = 0;
  for (const auto& s : shards) n += s.samples;
  return n;
}

std::vector<int64_t> ShardSet::first_samples() const {
  std::vector<int64_t> first;
  int64_t n = 0;
  for (const auto& s : shards) {
    first.push_back(n);
    n += s.samples;
  }
  return first;
}

std::vector<std::string> expand_braces(const std::string& pattern) {
  const size_t open = pattern.find('{');
  if (open == std::string::npos) {
    MAE_CHECK_USAGE(pattern.find('}') == std::string::npos, "shard pattern '", pattern, "' has a '}' without '{'");
    return {pattern};
  }
  const size_t close = pattern.find('}', open);
  MAE_CHECK_USAGE(close != std::string::npos, "shard pattern '", pattern, "' has a '{' without '}'");
  const std::string body = pattern.substr(open + 1, close - open - 1);
  const auto choices = body.find("..") != std::string::npos ? expand_range(body, pattern) : split_commas(body);
  const auto rests = expand_braces(pattern.substr(close + 1));
  std::vector<std::string> out;  // the leftmost brace varies slowest
  for (const auto& choice : choices) {
    for (const auto& rest : rests) out.push_back(pattern.substr(0, open) + choice + rest);
  }
  return out;
}

std::vector<std::string> resolve_shards(const std::string& root, const std::vector<std::string>& files, const std::string& key) {
  std::vector<std::string> shards;
  const std::vector<std::string> names = files.empty() ? std::vector<std::string>{""} : files;
  for (const auto& name : names) {
    const std::string path = detail::join_root(root, name);
    if (name.find('{') != std::string::npos) {
      for (const auto& p : expand_braces(path)) shards.push_back(p);
    } else if (fs::is_directory(path)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(path)) {
        if (e.is_regular_file() && is_tar(e.path())) found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      MAE_CHECK_USAGE(!found.empty(), "folder '", path, "' (", key, ") holds no .tar shards");
      shards.insert(shards.end(), found.begin(), found.end());
    } else if (is_tar(path)) {
      shards.push_back(path);
    } else {  // a list file: one shard per line, relative to the list's folder
      const auto lines = detail::split_lines(detail::read_config_file(path, key));
      for (const auto& line : lines) {
        if (line.empty() || line[0] == '#') continue;
        const std::string p = fs::path(line).is_absolute() ? line : (fs::path(path).parent_path() / line).string();
        for (const auto& e : expand_braces(p)) shards.push_back(e);
      }
    }
  }
  MAE_CHECK_USAGE(!shards.empty(), key, " names no shards; give a pattern such as train-{000000..000146}.tar, a list ",
                  "file or a folder of .tar files (relative to data.root)");
  for (const auto& s : shards) {
    MAE_CHECK_USAGE(fs::is_regular_file(s), "shard '", s, "' does not exist; check ", key, " and data.root");
  }
  return shards;
}

std::string shard_index_path(const std::string& shard) {
  const fs::path p(shard);
  std::string stem = p.filename().string();
  const size_t dot = stem.find('.');
  if (dot != std::string::npos) stem = stem.substr(0, dot);
  while (!stem.empty() && std::isdigit(static_cast<unsigned char>(stem.back()))) stem.pop_back();
  while (!stem.empty() && (stem.back() == '-' || stem.back() == '_' || stem.back() == '.')) stem.pop_back();
  if (stem.empty()) stem = "shards";
  return (p.parent_path() / (stem + ".index.json")).string();
}

ShardSet load_shard_set(const std::vector<std::string>& paths, const std::string& label_field) {
  MAE_CHECK(!paths.empty(), "load_shard_set: no shards");
  std::vector<uint64_t> sizes;
  for (const auto& p : paths) sizes.push_back(fs::file_size(p));
  ShardSet set = read_index(shard_index_path(paths.front()), paths, sizes);
  if (!set.shards.empty()) return set;
  const std::string cache = count_cache_path(paths, sizes);
  set = read_index(cache, paths, sizes);
  if (!set.shards.empty()) return set;
  set = count_shards(paths, sizes, label_field);
  try {
    fs::create_directories(fs::path(cache).parent_path());
    write_shard_index(cache, set, R"json({"written_by": "mae (counting pass)"})json");
    set.origin = cache;
  } catch (const std::exception& e) {
    core::log_warning(str("data: could not cache the shard counts at ", cache, " (", e.what(), "); they will be counted again"));
  }
  return set;
}

void write_shard_index(const std::string& path, const ShardSet& set, const std::string& extra_json) {
  nlohmann::json json = nlohmann::json::parse(extra_json);
  json["format"] = kIndexFormat;
  json["version"] = 1;
  json["samples"] = set.samples();
  json["classes"] = set.class_names;
  auto shards = nlohmann::json::array();
  const fs::path folder = fs::path(path).parent_path();
  for (const auto& s : set.shards) {
    shards.push_back({{"name", relative_name(s.path, folder)}, {"samples", s.samples}, {"bytes", s.bytes}});
  }
  json["shards"] = shards;
  core::write_file_atomic(path, [&](std::ostream& out) { out << json.dump(1) << "\n"; });
}

}  // namespace mae::data
