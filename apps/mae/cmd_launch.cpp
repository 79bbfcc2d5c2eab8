// mae launch: starts N local processes of a training command with the variables torchrun would
// set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), for users
// without torchrun. When one exits with an error the others are stopped, and its exit code is
// returned.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <thread>

#include "command.h"
#include "mae/core/error.h"
#include "mae/distributed/environment.h"

namespace mae::app {
namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

Runner register_launch(CLI::App& app) {
  struct State {
    int nproc = 2;
    std::string master_addr = "127.0.0.1";
    int master_port = 0;
    double grace = 10;
    std::vector<std::string> command;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("launch", "start N local processes of a training command (data-parallel), like torchrun");
  cmd->add_option("--nproc", s->nproc, "processes to start (one per GPU, or per CPU socket)")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--master-addr", s->master_addr, "rendezvous address (rank 0's machine)")->capture_default_str();
  cmd->add_option("--master-port", s->master_port, "rendezvous port (0: a free one)")->capture_default_str();
  cmd->add_option("--grace", s->grace, "seconds the others get to stop after one failed, before they are killed")->capture_default_str();
  cmd->add_option("command", s->command, "the mae command to run in each process, after --, e.g. -- pretrain --config my.yaml")
      ->required();
  cmd->footer("\nExample: mae launch --nproc 2 -- pretrain --set train.batch_size=128\n"
              "Each process gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (docs/distributed.md).");
  return [s]() {
    const std::string sub = s->command.front();
    MAE_CHECK_USAGE(sub == "pretrain" || sub == "finetune" || sub == "linprobe", "mae launch runs pretrain, finetune or linprobe, got '",
                    sub, "'");
    const int port = s->master_port > 0 ? s->master_port : distributed::free_port();
    std::vector<std::string> argv_strings{"/proc/self/exe"};
    argv_strings.insert(argv_strings.end(), s->command.begin(), s->command.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<pid_t> children;
    for (int rank = 0; rank < s->nproc; ++rank) {
      const pid_t pid = ::fork();
      MAE_CHECK(pid >= 0, "mae launch: fork failed for rank ", rank);
      if (pid == 0) {
        ::setenv("RANK", std::to_string(rank).c_str(), 1);
        ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
        ::setenv("WORLD_SIZE", std::to_string(s->nproc).c_str(), 1);
        ::setenv("LOCAL_WORLD_SIZE", std::to_string(s->nproc).c_str(), 1);
        ::setenv("MASTER_ADDR", s->master_addr.c_str(), 1);
        ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
        ::execv("/proc/self/exe", argv.data());  // this very binary
        std::perror("mae launch: exec");
        ::_exit(127);
      }
      children.push_back(pid);
    }
    std::cerr << "mae launch: " << s->nproc << " processes of 'mae " << sub << "', rendezvous " << s->master_addr << ":" << port << "\n";

    int result = 0;
    size_t running = children.size();
    auto rank_of = [&](pid_t pid) {
      for (size_t r = 0; r < children.size(); ++r) {
        if (children[r] == pid) return static_cast<int>(r);
      }
      return -1;
    };
    bool stopping = false;
    auto deadline = std::chrono::steady_clock::now();
    while (running > 0) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, stopping ? WNOHANG : 0);
      if (pid > 0) {
        --running;
        const int code = exit_code_of(status);
        const int rank = rank_of(pid);
        if (rank >= 0) children[static_cast<size_t>(rank)] = -1;
        if (code != 0 && result == 0) {
          result = code;
          std::cerr << "mae launch: rank " << rank << " exited with code " << code << "; stopping the other ranks\n";
          for (pid_t c : children) {
            if (c > 0) ::kill(c, SIGTERM);
          }
          stopping = true;
          deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(s->grace * 1000));
        }
        continue;
      }
      if (pid < 0 && errno != EINTR) break;
      if (stopping && std::chrono::steady_clock::now() > deadline) {
        for (pid_t c : children) {
          if (c > 0) ::kill(c, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return result;
  };
}

}  // namespace mae::app
