// Where this process sits in a distributed job, read from the variables torchrun sets (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or, when those are absent, from SLURM's
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR/MASTER_PORT must still be exported,
// see docs/distributed.md). Without either, the job is one process.
#pragma once

#include <functional>
#include <string>

#include "mae/core/choice.h"

namespace mae::distributed {

// Which variables described the job: torchrun's (or `mae launch`'s), SLURM's, or none.
enum class EnvSource { kNone, kTorchrun, kSlurm };
inline constexpr core::Choice<EnvSource> kEnvSourceNames[] = {
    {EnvSource::kNone, "none"}, {EnvSource::kTorchrun, "torchrun"}, {EnvSource::kSlurm, "slurm"}};

struct Environment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  EnvSource source = EnvSource::kNone;

  // A job of several processes, or one that torchrun (or `mae launch`) started, even alone:
  // it then goes through c10d too (one process per GPU with NCCL, world size 1 included).
  bool distributed() const { return world_size > 1 || source == EnvSource::kTorchrun; }
};

// `getenv` is injectable for tests. Throws UsageError for malformed or inconsistent values,
// naming the variable.
Environment read_environment(const std::function<const char*(const char*)>& getenv = nullptr);

// A TCP port on the loopback interface that is free now (for a local job's MASTER_PORT; the small
// race with another program taking it is accepted, as in torchrun's standalone mode).
int free_port();

}  // namespace mae::distributed
