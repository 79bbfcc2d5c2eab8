// Starts N local processes of a command with the variables torchrun would set (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and supervises them: when one exits with
// an error the others get SIGTERM, then SIGKILL after a grace period, and its exit code is returned.
#pragma once

#include <string>
#include <vector>

namespace mae::distributed {

struct LaunchOptions {
  int nproc = 2;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;                     // 0: a free one
  double grace_seconds = 10;               // after a failure, before the others are killed
  std::string program = "/proc/self/exe";  // this very binary
  std::vector<std::string> arguments;      // e.g. {"pretrain", "--config", "my.yaml"}
};

// Returns 0 when every process succeeded, else the first failure's exit code (128 + signal for a
// process killed by a signal).
int launch_local(const LaunchOptions& options);

}  // namespace mae::distributed
