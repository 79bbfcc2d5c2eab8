// The string side of the settings edge: a schema of dotted keys ("model.embed_dim") with types,
// defaults and help, filled from YAML files and `--set key=value` overrides. Unknown keys are
// errors that name the nearest valid key; values are checked against their type (scalar or list)
// when set. Nothing below the edge sees this class: config/settings.h turns it into the typed
// option structs of each area.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mae::config {

enum class ValueType { kInt, kFloat, kBool, kString, kFloatList, kStringList };

struct ConfigOption {
  std::string key;
  ValueType type;
  std::string default_value;
  std::string help;
};

// One layer of settings: key = value pairs in the order they were given.
using Assignments = std::vector<std::pair<std::string, std::string>>;

class Config {
 public:
  // Declares a key. Declaring the same key twice is a programming error (throws).
  void add(const std::string& key, ValueType type, const std::string& default_value, const std::string& help);

  // A YAML file or text flattened into dotted keys (nested maps); a list is accepted only by a list key.
  // Throws UsageError naming the origin for malformed YAML, unknown keys and wrong types.
  Assignments parse_yaml_file(const std::string& path) const;
  Assignments parse_yaml_string(const std::string& text, const std::string& origin = "<string>") const;
  // "a.b=value" as given to --set.
  static std::pair<std::string, std::string> parse_assignment(const std::string& assignment);

  void set(const std::string& key, const std::string& value);  // checks the key and the value's type
  void apply(const Assignments& layer, const std::string& origin);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;

  // The resolved configuration as nested YAML (loadable again with parse_yaml_string); `comments`
  // (key -> one line) are written after their keys' values as `# comment`.
  std::string to_yaml(const std::map<std::string, std::string>& comments = {}) const;
  // Every key with its type, default and help, for --help.
  std::string help_text() const;
  const std::vector<ConfigOption>& options() const { return options_; }

 private:
  const ConfigOption& option(const std::string& key) const;
  std::vector<ConfigOption> options_;
  std::map<std::string, std::string> values_;
};

// The valid key closest to `key` by edit distance (for "did you mean" messages).
std::string nearest_key(const std::string& key, const std::vector<ConfigOption>& options);
// The candidate closest to `word` within `max_distance` edits, else "" (command-line options).
std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates, size_t max_distance);

// Lists as stored in a value: comma-separated, optionally in brackets ("[a, b]", "a,b").
std::vector<std::string> split_list(const std::string& text);

}  // namespace mae::config
