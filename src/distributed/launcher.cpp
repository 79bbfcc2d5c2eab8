#include "mae/distributed/launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

#include "mae/core/error.h"
#include "mae/distributed/environment.h"

namespace mae::distributed {
namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::vector<pid_t> spawn_ranks(const LaunchOptions& o, int port) {
  std::vector<std::string> argv_strings{o.program};
  argv_strings.insert(argv_strings.end(), o.arguments.begin(), o.arguments.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<pid_t> children;
  for (int rank = 0; rank < o.nproc; ++rank) {
    const pid_t pid = ::fork();
    MAE_CHECK(pid >= 0, "mae launch: fork failed for rank ", rank, " (", std::strerror(errno), ")");
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv(o.program.c_str(), argv.data());
      std::perror("mae launch: exec");
      ::_exit(127);
    }
    children.push_back(pid);
  }
  return children;
}

void signal_all(const std::vector<pid_t>& children, int sig) {
  for (pid_t c : children) {
    if (c > 0) ::kill(c, sig);
  }
}

// Waits for every child; the first failure stops the others.
int supervise(std::vector<pid_t> children, double grace_seconds) {
  int result = 0;
  size_t running = children.size();
  bool stopping = false;
  auto deadline = std::chrono::steady_clock::now();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, stopping ? WNOHANG : 0);
    if (pid > 0) {
      --running;
      int rank = -1;
      for (size_t r = 0; r < children.size(); ++r) {
        if (children[r] == pid) rank = static_cast<int>(r), children[r] = -1;
      }
      const int code = exit_code_of(status);
      if (code != 0 && result == 0) {
        result = code;
        std::cerr << "mae launch: rank " << rank << " exited with code " << code << "; stopping the other ranks\n";
        signal_all(children, SIGTERM);
        stopping = true;
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (stopping && std::chrono::steady_clock::now() > deadline) signal_all(children, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return result;
}

}  // namespace

int launch_local(const LaunchOptions& o) {
  MAE_CHECK_USAGE(o.nproc >= 1, "mae launch: --nproc must be >= 1, got ", o.nproc);
  const int port = o.master_port > 0 ? o.master_port : free_port();
  auto children = spawn_ranks(o, port);
  std::cerr << "mae launch: " << o.nproc << " processes of '" << (o.arguments.empty() ? o.program : "mae " + o.arguments.front())
            << "', rendezvous " << o.master_addr << ":" << port << "\n";
  return supervise(std::move(children), o.grace_seconds);
}

}  // namespace mae::distributed
