// Runs the `mae` binary as a child process the test can signal, wait for or kill.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace mae::testing {

// Starts `mae <args>` with extra environment variables, stdout and stderr into `log`.
inline pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS"}) {
    if (env.count(k) == 0) ::unsetenv(k);
  }
  FILE* out = std::freopen(log.c_str(), "w", stdout);
  if (out == nullptr || ::dup2(::fileno(stdout), 2) < 0) ::_exit(126);
  std::vector<std::string> all{MAE_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(MAE_BINARY, argv.data());
  ::_exit(127);
}

// The exit code, or -1 when the process is still running after `seconds` (it is then killed).
inline int wait_exit(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace mae::testing
