// Configuration: a schema of dotted keys ("model.embed_dim") with types, defaults and help,
// filled from YAML files and `--set key=value` overrides. Unknown keys are errors that name the
// nearest valid key; values are checked against their type when set.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mae::core {

enum class ValueType { kInt, kFloat, kBool, kString, kFloatList };

struct ConfigOption {
  std::string key;
  ValueType type;
  std::string default_value;
  std::string help;
};

class Config {
 public:
  // Declares a key. Declaring the same key twice is a programming error (throws).
  void add(const std::string& key, ValueType type, const std::string& default_value,
           const std::string& help);

  // Changes a declared key's default (and current value): presets built on a shared schema.
  void set_default(const std::string& key, const std::string& value);

  // Merges a YAML file (nested maps become dotted keys). Unknown keys throw UsageError.
  void load_yaml_file(const std::string& path);
  void load_yaml_string(const std::string& text, const std::string& origin = "<string>");
  // "a.b=value" as given to --set.
  void set_assignment(const std::string& assignment);
  void set(const std::string& key, const std::string& value);

  bool has(const std::string& key) const;
  // Copies the values of `other`'s keys that start with `prefix` into keys this schema declares
  // and that still hold their defaults (e.g. the data.* of a checkpoint's stored config under
  // the user's own settings); returns how many.
  int copy_from(const Config& other, const std::string& prefix);
  // True while no file, --set or set() has given the key a value (set_default does not count),
  // even if one gave it the default's value.
  bool is_default(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;

  // The resolved configuration as nested YAML (loadable again with load_yaml_*).
  std::string to_yaml() const;
  // Every key with its type, default and help, for --help.
  std::string help_text() const;
  const std::vector<ConfigOption>& options() const { return options_; }

 private:
  const ConfigOption& option(const std::string& key) const;
  std::vector<ConfigOption> options_;
  std::map<std::string, std::string> values_;
  std::set<std::string> assigned_;  // keys given a value by set()
};

// The valid key closest to `key` by edit distance (for "did you mean" messages).
std::string nearest_key(const std::string& key, const std::vector<ConfigOption>& options);

}  // namespace mae::core
