// mae launch: starts N local processes of a training command with the variables torchrun would
// set, for users without torchrun (distributed/launcher.h supervises them).
#include "command.h"
#include "mae/core/error.h"
#include "mae/distributed/launcher.h"

namespace mae::app {

Runner register_launch(CLI::App& app) {
  auto o = std::make_shared<distributed::LaunchOptions>();
  CLI::App* cmd = app.add_subcommand("launch", "start N local processes of a training command (data-parallel), like torchrun");
  cmd->add_option("--nproc", o->nproc, "processes to start (one per GPU, or per CPU socket)")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--master-addr", o->master_addr, "rendezvous address (rank 0's machine)")->capture_default_str();
  cmd->add_option("--master-port", o->master_port, "rendezvous port (0: a free one)")->capture_default_str();
  cmd->add_option("--grace", o->grace_seconds, "seconds the others get to stop after one failed, before they are killed")
      ->capture_default_str();
  cmd->add_option("command", o->arguments, "the mae command to run in each process, after --, e.g. -- pretrain --config my.yaml")
      ->required();
  cmd->footer("\nExample: mae launch --nproc 2 -- pretrain --set train.batch_size=128\n"
              "Each process gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (docs/distributed.md).");
  return [o]() {
    const std::string& sub = o->arguments.front();
    MAE_CHECK_USAGE(sub == "pretrain" || sub == "finetune" || sub == "linprobe" || sub == "segment",
                    "mae launch runs pretrain, finetune, linprobe or segment, got '", sub, "'");
    return distributed::launch_local(*o);
  };
}

}  // namespace mae::app
