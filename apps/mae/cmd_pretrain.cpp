// mae pretrain: MAE pretraining (the built-in default trains on Fashion-MNIST).
#include "command.h"
#include "mae/core/stop_signal.h"
#include "mae/distributed/process_group.h"
#include "mae/tasks/pretrain.h"

namespace mae::app {

Runner register_pretrain(CLI::App& app) {
  struct State {
    CommonOptions common;
    tasks::PretrainRequest request;
    std::string output;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("pretrain", "MAE pretraining of a ViT (default: a small model on Fashion-MNIST)");
  add_common_options(cmd, &s->common, config::pretrain_schema());
  add_distributed_options(cmd, &s->common);
  cmd->add_option("--output", s->output, "run folder (same as --set train.output_dir=...)");
  cmd->add_option("--resume", s->request.resume,
                  "continue a run: 'auto' (newest valid checkpoint in the run folder) or a checkpoint path; the run's own "
                  "config.yaml is the base of the settings");
  cmd->add_flag("--overwrite", s->request.overwrite,
                "start a new run in a run folder that holds another: its config.yaml, metrics, checkpoints and pictures are "
                "removed first (without it such a folder is refused)");
  cmd->add_option("--init", s->request.init, "start from these weights only: one of our checkpoints, official MAE .pth, timm, EasyCV or "
                  "HuggingFace files (an encoder-only file leaves the decoder freshly initialised)");
  cmd->add_flag("--non-strict", s->request.non_strict, "with --init: accept missing or unexpected keys (they are listed)");
  return [s]() {
    MAE_CHECK_USAGE(s->request.resume.empty() || s->request.init.empty(), "--resume and --init exclude each other");
    config::check_named_file(s->request.init, "--init");
    if (!s->output.empty()) s->common.settings.sets.push_back("train.output_dir=" + s->output);
    const auto device = start_distributed(s->common, apply_common_options(s->common));
    core::install_stop_signals();
    const auto result = tasks::run_pretrain(config::resolve_pretrain(s->common.settings, s->request.resume), device, s->request);
    distributed::finish();
    return result.interrupted ? core::kExitInterrupted : 0;
  };
}

}  // namespace mae::app
