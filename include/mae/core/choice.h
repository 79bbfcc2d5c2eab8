// Settings with a fixed set of values: an enum and its table of names, written once beside the
// enum. The settings edge (config/fields.h, the command line) parses a name through the table, so
// that --help, the error and the resolved config list the same names; below the edge only the enum
// is compared.
//   enum class Pool { kCls, kMean };
//   inline constexpr core::Choice<Pool> kPoolNames[] = {{Pool::kCls, "cls"}, {Pool::kMean, "mean"}};
#pragma once

#include <cstddef>
#include <string>

#include "mae/core/error.h"

namespace mae::core {

template <typename E>
struct Choice {
  E value;
  const char* name;
};

// "a, b or c".
template <typename E, size_t N>
std::string choice_list(const Choice<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) out += str(i == 0 ? "" : i + 1 == N ? " or " : ", ", table[i].name);
  return out;
}

template <typename E, size_t N>
const char* choice_name(const Choice<E> (&table)[N], E value) {
  for (const auto& c : table) {
    if (c.value == value) return c.name;
  }
  throw Error(str("no name for choice value ", static_cast<int>(value)));
}

// Throws UsageError "`what` must be a, b or c, got 'x'".
template <typename E, size_t N>
E parse_choice(const Choice<E> (&table)[N], const std::string& name, const std::string& what) {
  for (const auto& c : table) {
    if (name == c.name) return c.value;
  }
  throw UsageError(str(what, " must be ", choice_list(table), ", got '", name, "'"));
}

}  // namespace mae::core
