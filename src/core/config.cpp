#include "mae/core/config.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "mae/core/error.h"
#include "mae/core/parse.h"

namespace mae::core {
namespace {

const char* type_name(ValueType type) {
  switch (type) {
    case ValueType::kInt: return "int";
    case ValueType::kFloat: return "float";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kFloatList: return "float list";
  }
  return "?";
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "True" || s == "1" || s == "yes" || s == "on") return *out = true, true;
  if (s == "false" || s == "False" || s == "0" || s == "no" || s == "off") return *out = false, true;
  return false;
}

bool parse_float_list(std::string s, std::vector<double>* out) {
  s = trim(s);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') return false;
    s = s.substr(1, s.size() - 2);
  }
  out->clear();
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    double v = 0;
    if (!parse_double(trim(item), &v)) return false;
    out->push_back(v);
  }
  return !out->empty();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

void flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>* out, const std::string& origin) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out, origin);
    }
  } else if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      MAE_CHECK_USAGE(item.IsScalar(), origin, ": key '", prefix, "' holds a nested list; expected numbers");
      if (!joined.empty()) joined += ',';
      joined += item.as<std::string>();
    }
    out->emplace_back(prefix, joined);
  } else if (node.IsScalar()) {
    out->emplace_back(prefix, node.as<std::string>());
  } else if (node.IsNull()) {
    out->emplace_back(prefix, "");
  }
}

}  // namespace

std::string nearest_key(const std::string& key, const std::vector<ConfigOption>& options) {
  std::string best;
  size_t best_distance = static_cast<size_t>(-1);
  for (const auto& o : options) {
    // A key whose last component matches is the likeliest intent ("embed_dim" -> "model.embed_dim").
    const auto dot = o.key.rfind('.');
    const std::string leaf = dot == std::string::npos ? o.key : o.key.substr(dot + 1);
    const size_t d = std::min(edit_distance(key, o.key), leaf == key ? size_t{0} : edit_distance(key, leaf) + 1);
    if (d < best_distance) best_distance = d, best = o.key;
  }
  return best;
}

void Config::add(const std::string& key, ValueType type, const std::string& default_value,
                 const std::string& help) {
  MAE_CHECK(!has(key), "config key '", key, "' declared twice");
  options_.push_back({key, type, default_value, help});
  values_[key] = default_value;
}

void Config::set_default(const std::string& key, const std::string& value) {
  set(key, value);
  assigned_.erase(key);
  for (auto& o : options_) {
    if (o.key == key) o.default_value = values_.at(key);
  }
}

bool Config::has(const std::string& key) const { return values_.count(key) > 0; }

bool Config::is_default(const std::string& key) const { return assigned_.count(option(key).key) == 0; }

int Config::copy_from(const Config& other, const std::string& prefix) {
  int copied = 0;
  for (const auto& [key, value] : other.values_) {
    if (key.compare(0, prefix.size(), prefix) == 0 && has(key) && is_default(key)) set(key, value), ++copied;
  }
  return copied;
}

const ConfigOption& Config::option(const std::string& key) const {
  for (const auto& o : options_) {
    if (o.key == key) return o;
  }
  const std::string near = nearest_key(key, options_);
  throw UsageError(str("unknown config key '", key, "'", near.empty() ? "" : "; did you mean '" + near + "'?",
                       " (`mae <command> --help` lists every key)"));
}

void Config::set(const std::string& key, const std::string& raw) {
  const ConfigOption& o = option(key);
  const std::string value = trim(raw);
  bool ok = true;
  switch (o.type) {
    case ValueType::kInt: { int64_t v; ok = parse_int(value, &v); break; }
    case ValueType::kFloat: { double v; ok = parse_double(value, &v); break; }
    case ValueType::kBool: { bool v; ok = parse_bool(value, &v); break; }
    case ValueType::kFloatList: { std::vector<double> v; ok = parse_float_list(value, &v); break; }
    case ValueType::kString: break;
  }
  MAE_CHECK_USAGE(ok, "config key '", key, "' expects a ", type_name(o.type), ", got '", value, "'");
  values_[key] = value;
  assigned_.insert(key);
}

void Config::set_assignment(const std::string& assignment) {
  const auto eq = assignment.find('=');
  MAE_CHECK_USAGE(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  set(trim(assignment.substr(0, eq)), assignment.substr(eq + 1));
}

void Config::load_yaml_string(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw UsageError(str(origin, ": not valid YAML (", e.what(), "); fix the file or pass --set instead"));
  }
  if (root.IsNull()) return;
  MAE_CHECK_USAGE(root.IsMap(), origin, ": the top level must be a map of keys");
  std::vector<std::pair<std::string, std::string>> flat;
  flatten(root, "", &flat, origin);
  for (const auto& [key, value] : flat) {
    try {
      set(key, value);
    } catch (const UsageError& e) {
      throw UsageError(str(origin, ": ", e.what()));
    }
  }
}

void Config::load_yaml_file(const std::string& path) {
  std::ifstream in(path);
  MAE_CHECK_USAGE(in.good(), "config file '", path, "' cannot be opened; check the path");
  std::stringstream buffer;
  buffer << in.rdbuf();
  load_yaml_string(buffer.str(), path);
}

int64_t Config::get_int(const std::string& key) const {
  int64_t v = 0;
  MAE_CHECK(option(key).type == ValueType::kInt && parse_int(values_.at(key), &v), "config key '", key, "' is not an int");
  return v;
}

double Config::get_float(const std::string& key) const {
  double v = 0;
  MAE_CHECK(option(key).type == ValueType::kFloat && parse_double(values_.at(key), &v), "config key '", key, "' is not a float");
  return v;
}

bool Config::get_bool(const std::string& key) const {
  bool v = false;
  MAE_CHECK(option(key).type == ValueType::kBool && parse_bool(values_.at(key), &v), "config key '", key, "' is not a bool");
  return v;
}

const std::string& Config::get_string(const std::string& key) const {
  MAE_CHECK(option(key).type == ValueType::kString, "config key '", key, "' is not a string");
  return values_.at(key);
}

std::vector<double> Config::get_float_list(const std::string& key) const {
  std::vector<double> v;
  MAE_CHECK(option(key).type == ValueType::kFloatList && parse_float_list(values_.at(key), &v),
            "config key '", key, "' is not a float list");
  return v;
}

namespace {

// Keys grouped by their dotted prefix, in declaration order, for nested YAML output.
struct KeyTree {
  std::vector<std::pair<std::string, std::unique_ptr<KeyTree>>> children;  // pointers: KeyTree is incomplete here
  const ConfigOption* option = nullptr;

  KeyTree& child(const std::string& name) {
    for (auto& [n, t] : children) {
      if (n == name) return *t;
    }
    children.emplace_back(name, std::make_unique<KeyTree>());
    return *children.back().second;
  }
};

void emit(YAML::Emitter& out, const KeyTree& tree, const std::map<std::string, std::string>& values) {
  out << YAML::BeginMap;
  for (const auto& [name, child] : tree.children) {
    const KeyTree& sub = *child;
    out << YAML::Key << name << YAML::Value;
    if (!sub.option) {
      emit(out, sub, values);
    } else if (sub.option->type == ValueType::kFloatList) {
      // The numbers as the user wrote them, so 0.1 stays 0.1.
      std::string list = trim(values.at(sub.option->key));
      if (!list.empty() && list.front() == '[') list = list.substr(1, list.size() - 2);
      std::stringstream items(list);
      std::string item;
      out << YAML::Flow << YAML::BeginSeq;
      while (std::getline(items, item, ',')) out << trim(item);
      out << YAML::EndSeq;
    } else if (sub.option->type == ValueType::kString) {
      out << YAML::DoubleQuoted << values.at(sub.option->key);
    } else {
      out << values.at(sub.option->key);
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string Config::to_yaml() const {
  KeyTree root;
  for (const auto& o : options_) {
    KeyTree* node = &root;
    std::stringstream in(o.key);
    std::string part;
    while (std::getline(in, part, '.')) node = &node->child(part);
    node->option = &o;
  }
  YAML::Emitter out;
  emit(out, root, values_);
  return std::string(out.c_str()) + "\n";
}

std::string Config::help_text() const {
  size_t width = 0;
  for (const auto& o : options_) width = std::max(width, o.key.size());
  std::ostringstream out;
  for (const auto& o : options_) {
    out << "  " << o.key << std::string(width - o.key.size() + 2, ' ') << o.help << " ["
        << type_name(o.type) << ", default: " << (o.default_value.empty() ? "\"\"" : o.default_value) << "]\n";
  }
  return out.str();
}

}  // namespace mae::core
