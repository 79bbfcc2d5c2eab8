#include "mae/core/parse.h"

#include <cctype>
#include <cerrno>
#include <utility>
#include <cstdlib>

namespace mae::core {

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == text.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_byte_size(const std::string& text, uint64_t* out) {
  size_t unit = text.size();
  while (unit > 0 && std::isalpha(static_cast<unsigned char>(text[unit - 1]))) --unit;
  double number = 0;
  if (!parse_double(text.substr(0, unit), &number) || !(number >= 0)) return false;
  std::string suffix = text.substr(unit);
  for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> units[] = {
      {"", 1},      {"b", 1},           {"kb", 1e3},          {"mb", 1e6},  {"gb", 1e9}, {"tb", 1e12},
      {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  for (const auto& [name, factor] : units) {
    if (suffix == name) {
      const double bytes = number * factor;
      if (bytes >= 1.8e19) return false;
      *out = static_cast<uint64_t>(bytes + 0.5);
      return true;
    }
  }
  return false;
}

}  // namespace mae::core
