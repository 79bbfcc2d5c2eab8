#include "mae/config/config.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "mae/core/error.h"
#include "mae/core/parse.h"

namespace mae::config {
using core::parse_double;
using core::parse_int;

namespace {

const char* type_name(ValueType type) {
  switch (type) {
    case ValueType::kInt: return "int";
    case ValueType::kFloat: return "float";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kFloatList: return "list of numbers";
    case ValueType::kStringList: return "list of strings";
  }
  return "?";
}

// "an int", "a float", ...: the type with its article, for messages.
std::string a_type(ValueType type) { return std::string(type == ValueType::kInt ? "an " : "a ") + type_name(type); }

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

bool parse_float_list(const std::string& s, std::vector<double>* out) {
  out->clear();
  for (const auto& item : split_list(s)) {
    double v = 0;
    if (!parse_double(item, &v)) return false;
    out->push_back(v);
  }
  return true;  // an empty list means "off" where a key allows it; the options' validate() decides
}

bool is_list(ValueType type) { return type == ValueType::kFloatList || type == ValueType::kStringList; }

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

// Nested maps become dotted keys; `lists` collects the keys that held a YAML list.
void flatten(const YAML::Node& node, const std::string& prefix, Assignments* out, std::vector<std::string>* lists,
             const std::string& origin) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out, lists, origin);
    }
  } else if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      MAE_CHECK_USAGE(item.IsScalar(), origin, ": key '", prefix, "' holds a nested list; expected plain values");
      const std::string value = item.as<std::string>();
      MAE_CHECK_USAGE(value.find(',') == std::string::npos, origin, ": key '", prefix, "': list item '", value,
                      "' contains a comma, which separates items");
      if (!joined.empty()) joined += ',';
      joined += value;
    }
    lists->push_back(prefix);
    out->emplace_back(prefix, joined);
  } else if (node.IsScalar()) {
    out->emplace_back(prefix, node.as<std::string>());
  } else if (node.IsNull()) {
    out->emplace_back(prefix, "");
  }
}

}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::string s = trim(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  std::vector<std::string> items;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

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

std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates, size_t max_distance) {
  std::string best;
  size_t best_distance = max_distance + 1;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  return best;
}

void Config::add(const std::string& key, ValueType type, const std::string& default_value,
                 const std::string& help) {
  MAE_CHECK(!has(key), "config key '", key, "' declared twice");
  options_.push_back({key, type, default_value, help});
  values_[key] = default_value;
}

bool Config::has(const std::string& key) const { return values_.count(key) > 0; }

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
    case ValueType::kString: case ValueType::kStringList: break;
  }
  MAE_CHECK_USAGE(ok, "config key '", key, "' expects ", a_type(o.type), ", got '", value, "'");
  values_[key] = value;
}

void Config::apply(const Assignments& layer, const std::string& origin) {
  for (const auto& [key, value] : layer) {
    try {
      set(key, value);
    } catch (const UsageError& e) {
      throw UsageError(origin.empty() ? std::string(e.what()) : str(origin, ": ", e.what()));
    }
  }
}

std::pair<std::string, std::string> Config::parse_assignment(const std::string& assignment) {
  const auto eq = assignment.find('=');
  MAE_CHECK_USAGE(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  return {trim(assignment.substr(0, eq)), assignment.substr(eq + 1)};
}

Assignments Config::parse_yaml_string(const std::string& text, const std::string& origin) const {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw UsageError(str(origin, ": not valid YAML (", e.what(), "); fix the file or pass --set instead"));
  }
  if (root.IsNull()) return {};
  MAE_CHECK_USAGE(root.IsMap(), origin, ": the top level must be a map of keys");
  Assignments flat;
  std::vector<std::string> lists;
  flatten(root, "", &flat, &lists, origin);
  for (const auto& [key, value] : flat) {
    try {
      const ConfigOption& o = option(key);
      const bool given_list = std::find(lists.begin(), lists.end(), key) != lists.end();
      MAE_CHECK_USAGE(!given_list || is_list(o.type), "config key '", key, "' expects ", a_type(o.type),
                      ", got a list [", value, "]");
    } catch (const UsageError& e) {
      throw UsageError(str(origin, ": ", e.what()));
    }
  }
  return flat;
}

Assignments Config::parse_yaml_file(const std::string& path) const {
  std::ifstream in(path);
  MAE_CHECK_USAGE(in.good(), "config file '", path, "' cannot be opened; check the path");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_yaml_string(buffer.str(), path);
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

std::vector<std::string> Config::get_string_list(const std::string& key) const {
  MAE_CHECK(option(key).type == ValueType::kStringList, "config key '", key, "' is not a string list");
  return split_list(values_.at(key));
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

void emit(YAML::Emitter& out, const KeyTree& tree, const std::map<std::string, std::string>& values,
          const std::map<std::string, std::string>& comments) {
  out << YAML::BeginMap;
  for (const auto& [name, child] : tree.children) {
    const KeyTree& sub = *child;
    out << YAML::Key << name << YAML::Value;
    if (!sub.option) {
      emit(out, sub, values, comments);
    } else if (sub.option->type == ValueType::kFloatList) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& item : split_list(values.at(sub.option->key))) out << item;
      out << YAML::EndSeq;
    } else if (sub.option->type == ValueType::kStringList) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& item : split_list(values.at(sub.option->key))) out << YAML::DoubleQuoted << item;
      out << YAML::EndSeq;
    } else if (sub.option->type == ValueType::kString) {
      out << YAML::DoubleQuoted << values.at(sub.option->key);
    } else {
      out << values.at(sub.option->key);
    }
    const auto comment = sub.option ? comments.find(sub.option->key) : comments.end();
    if (comment != comments.end()) {
      std::string line = comment->second;
      std::replace(line.begin(), line.end(), '\n', ' ');
      out << YAML::Comment(line);
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string Config::to_yaml(const std::map<std::string, std::string>& comments) const {
  KeyTree root;
  for (const auto& o : options_) {
    KeyTree* node = &root;
    std::stringstream in(o.key);
    std::string part;
    while (std::getline(in, part, '.')) node = &node->child(part);
    node->option = &o;
  }
  YAML::Emitter out;
  emit(out, root, values_, comments);
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

}  // namespace mae::config
