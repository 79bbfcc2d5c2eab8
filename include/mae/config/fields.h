// Binds config keys to the members of typed option structs, one line per key, so that a key's
// name, help, default and home are written once. The same binding declares the keys (the default
// is the value the struct holds), reads them into the struct, and writes the struct back, which is
// how the resolved config that is printed and saved describes exactly what was used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mae/config/config.h"
#include "mae/core/choice.h"

namespace mae::config {

class Fields {
 public:
  enum class Mode { kDeclare, kRead, kWrite };
  Fields(Config& config, Mode mode) : config_(config), mode_(mode) {}
  Mode mode() const { return mode_; }

  void operator()(const std::string& key, int64_t& value, const std::string& help);
  void operator()(const std::string& key, int& value, const std::string& help);
  void operator()(const std::string& key, uint64_t& value, const std::string& help);
  void operator()(const std::string& key, double& value, const std::string& help);
  void operator()(const std::string& key, bool& value, const std::string& help);
  void operator()(const std::string& key, std::string& value, const std::string& help);
  void operator()(const std::string& key, std::vector<double>& value, const std::string& help);
  void operator()(const std::string& key, std::vector<std::string>& value, const std::string& help);
  // A two-number list ([min, max], betas) held in two members.
  void operator()(const std::string& key, double& first, double& second, const std::string& help);
  // A fixed choice (core/choice.h): declared and written as its name, read through the table; the
  // help and the error list the table's names.
  template <typename E, size_t N>
  void operator()(const std::string& key, E& value, const core::Choice<E> (&table)[N], const std::string& help) {
    std::string name = core::choice_name(table, value);
    (*this)(key, name, help + " (" + core::choice_list(table) + ")");
    if (mode_ == Mode::kRead) value = core::parse_choice(table, name, key);
  }

 private:
  void bind(const std::string& key, ValueType type, const std::string& text, const std::string& help);
  Config& config_;
  Mode mode_;
};

// Writes `value` so that reading it back gives the same double (17 significant digits at most,
// fewer when they suffice: 0.1 stays "0.1").
std::string format_number(double value);

}  // namespace mae::config
