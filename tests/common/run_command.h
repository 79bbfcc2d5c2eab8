// Runs a shell command line and collects its exit code and output (stdout and stderr together).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace mae::testing {

struct CommandResult {
  int code;  // the exit code, -1 when the command did not exit normally
  std::string output;
};

inline CommandResult run_command(const std::string& command_line) {
  FILE* pipe = ::popen((command_line + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + command_line};
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace mae::testing
