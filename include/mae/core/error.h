// Errors thrown by the library. The `mae` command maps UsageError to exit code 2 and every
// other error to exit code 1. Messages say what was wrong, where, and what to do.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace mae {

// A runtime failure: bad data, a corrupt file, a non-finite loss.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// The user asked for something invalid: an unknown option or config key, a bad value.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// Concatenates any streamable values into one string.
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

}  // namespace mae

// MAE_CHECK(cond, "file list ", path, ": line ", n, " is empty") throws mae::Error.
#define MAE_CHECK(cond, ...)                            \
  do {                                                  \
    if (!(cond)) throw ::mae::Error(::mae::str(__VA_ARGS__)); \
  } while (0)

// MAE_CHECK_USAGE throws mae::UsageError (exit code 2 in the command).
#define MAE_CHECK_USAGE(cond, ...)                           \
  do {                                                       \
    if (!(cond)) throw ::mae::UsageError(::mae::str(__VA_ARGS__)); \
  } while (0)
