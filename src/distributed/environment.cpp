#include "mae/distributed/environment.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "mae/core/error.h"
#include "mae/core/parse.h"

namespace mae::distributed {
namespace {

int parse_count(const char* name, const char* text) {
  int64_t value = -1;
  MAE_CHECK_USAGE(core::parse_int(text, &value) && value >= 0 && value < (int64_t{1} << 20), "environment variable ", name, "='",
                  text, "' is not a non-negative integer");
  return static_cast<int>(value);
}

}  // namespace

Environment read_environment(const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* {
    const char* v = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  Environment env;
  const char *rank = get("RANK"), *world = get("WORLD_SIZE"), *local = get("LOCAL_RANK");
  const char* rank_name = "RANK";
  const char* world_name = "WORLD_SIZE";
  if (rank != nullptr || world != nullptr) {
    MAE_CHECK_USAGE(rank != nullptr && world != nullptr, "RANK and WORLD_SIZE must be set together (found only ",
                    rank != nullptr ? "RANK" : "WORLD_SIZE", ")");
    env.source = EnvSource::kTorchrun;
  } else if (get("SLURM_PROCID") != nullptr && get("SLURM_NTASKS") != nullptr) {
    rank = get("SLURM_PROCID"), world = get("SLURM_NTASKS"), local = get("SLURM_LOCALID");
    rank_name = "SLURM_PROCID", world_name = "SLURM_NTASKS";
    env.source = EnvSource::kSlurm;
  } else {
    return env;
  }
  env.rank = parse_count(rank_name, rank);
  env.world_size = parse_count(world_name, world);
  env.local_rank = local != nullptr ? parse_count(env.source == EnvSource::kSlurm ? "SLURM_LOCALID" : "LOCAL_RANK", local) : 0;
  MAE_CHECK_USAGE(env.world_size >= 1 && env.rank < env.world_size, rank_name, "=", env.rank, " is outside ", world_name, "=",
                  env.world_size);
  if (const char* addr = get("MASTER_ADDR")) env.master_addr = addr;
  if (const char* port = get("MASTER_PORT")) {
    env.master_port = parse_count("MASTER_PORT", port);
    MAE_CHECK_USAGE(env.master_port > 0 && env.master_port < 65536, "MASTER_PORT=", port, " is not a TCP port");
  }
  if (env.distributed() && env.source == EnvSource::kSlurm) {
    MAE_CHECK_USAGE(get("MASTER_ADDR") != nullptr, "SLURM job with ", env.world_size,
                    " tasks: export MASTER_ADDR (the first node's host name) and MASTER_PORT before srun; see docs/distributed.md");
  }
  return env;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  MAE_CHECK(fd >= 0, "cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  MAE_CHECK(ok, "cannot find a free port; set MASTER_PORT");
  return ntohs(addr.sin_port);
}

}  // namespace mae::distributed
