#include "mae/config/fields.h"

#include <cstdio>
#include <cstdlib>

#include "mae/core/error.h"

namespace mae::config {

std::string format_number(double value) {
  char buffer[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::string join(const std::vector<double>& values) {
  std::vector<std::string> items;
  for (double v : values) items.push_back(format_number(v));
  return join(items);
}

}  // namespace

void Fields::bind(const std::string& key, ValueType type, const std::string& text, const std::string& help) {
  if (mode_ == Mode::kDeclare) config_.add(key, type, text, help);
  if (mode_ == Mode::kWrite) config_.set(key, text);
}

void Fields::operator()(const std::string& key, int64_t& value, const std::string& help) {
  bind(key, ValueType::kInt, std::to_string(value), help);
  if (mode_ == Mode::kRead) value = config_.get_int(key);
}

void Fields::operator()(const std::string& key, int& value, const std::string& help) {
  int64_t wide = value;
  (*this)(key, wide, help);
  MAE_CHECK_USAGE(wide >= INT32_MIN && wide <= INT32_MAX, key, " is out of range: ", wide);
  value = static_cast<int>(wide);
}

void Fields::operator()(const std::string& key, uint64_t& value, const std::string& help) {
  auto wide = static_cast<int64_t>(value);
  (*this)(key, wide, help);
  MAE_CHECK_USAGE(wide >= 0, key, " must be >= 0, got ", wide);
  value = static_cast<uint64_t>(wide);
}

void Fields::operator()(const std::string& key, double& value, const std::string& help) {
  bind(key, ValueType::kFloat, format_number(value), help);
  if (mode_ == Mode::kRead) value = config_.get_float(key);
}

void Fields::operator()(const std::string& key, bool& value, const std::string& help) {
  bind(key, ValueType::kBool, value ? "true" : "false", help);
  if (mode_ == Mode::kRead) value = config_.get_bool(key);
}

void Fields::operator()(const std::string& key, std::string& value, const std::string& help) {
  bind(key, ValueType::kString, value, help);
  if (mode_ == Mode::kRead) value = config_.get_string(key);
}

void Fields::operator()(const std::string& key, std::vector<double>& value, const std::string& help) {
  bind(key, ValueType::kFloatList, join(value), help);
  if (mode_ == Mode::kRead) value = config_.get_float_list(key);
}

void Fields::operator()(const std::string& key, std::vector<std::string>& value, const std::string& help) {
  bind(key, ValueType::kStringList, join(value), help);
  if (mode_ == Mode::kRead) value = config_.get_string_list(key);
}

void Fields::operator()(const std::string& key, double& first, double& second, const std::string& help) {
  std::vector<double> pair = {first, second};
  (*this)(key, pair, help);
  MAE_CHECK_USAGE(pair.size() == 2, key, " needs two values [", key.find("betas") != std::string::npos ? "beta1, beta2" : "min, max",
                  "], got ", pair.size());
  first = pair[0], second = pair[1];
}

}  // namespace mae::config
