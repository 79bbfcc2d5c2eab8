// Reading a distributed job's place from torchrun's or SLURM's variables; a single process needs
// none and stays alone.
#include <map>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/distributed/environment.h"
#include "mae/distributed/gradient_sync.h"
#include "mae/distributed/process_group.h"

using mae::distributed::read_environment;

namespace {
auto from(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}
}  // namespace

TEST(DistEnvironment, NoVariablesMeansOneProcess) {
  const auto env = read_environment(from({}));
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.source, mae::distributed::EnvSource::kNone);
  // Nothing was initialised: collectives are no-ops and gradient sync is inactive.
  EXPECT_FALSE(mae::distributed::initialized());
  auto t = torch::ones({3});
  mae::distributed::all_reduce_sum(t, "test");
  EXPECT_TRUE(torch::equal(t, torch::ones({3})));
  auto w = torch::ones({2}, torch::requires_grad());
  mae::distributed::GradientSync sync({w});
  EXPECT_FALSE(sync.active());
}

TEST(DistEnvironment, TorchrunVariables) {
  const auto env = read_environment(from({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"},
                                          {"MASTER_PORT", "23456"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}));
  EXPECT_EQ(env.source, mae::distributed::EnvSource::kTorchrun);  // torchrun's variables win over SLURM's
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node7");
  EXPECT_EQ(env.master_port, 23456);
}

TEST(DistEnvironment, SlurmFallback) {
  const auto env = read_environment(from({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"},
                                          {"MASTER_ADDR", "gpu-001"}, {"MASTER_PORT", "29501"}}));
  EXPECT_EQ(env.source, mae::distributed::EnvSource::kSlurm);
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 16);
  EXPECT_EQ(env.local_rank, 1);
  // Without MASTER_ADDR a multi-task SLURM job cannot meet: say what to export.
  try {
    read_environment(from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}));
    FAIL() << "expected an error";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR"), std::string::npos) << e.what();
  }
  // A single SLURM task is an ordinary run; torchrun with one process still joins a group (NCCL
  // with world size 1 is how one GPU's job is launched by torchrun).
  EXPECT_FALSE(read_environment(from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}})).distributed());
  EXPECT_TRUE(read_environment(from({{"RANK", "0"}, {"WORLD_SIZE", "1"}})).distributed());
}

TEST(DistEnvironment, MalformedVariablesAreNamed) {
  for (const auto& vars : std::vector<std::map<std::string, std::string>>{
           {{"RANK", "x"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "2"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "0"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}}) {
    EXPECT_THROW(read_environment(from(vars)), mae::UsageError) << vars.begin()->first;
  }
}
