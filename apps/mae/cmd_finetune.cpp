// mae finetune / mae linprobe: a classifier from a pretraining checkpoint (or any weights), or from
// scratch; the built-in default fine-tunes the small Fashion-MNIST ViT.
#include "command.h"
#include "mae/core/stop_signal.h"
#include "mae/distributed/process_group.h"
#include "mae/tasks/classify.h"

namespace mae::app {
namespace {

Runner register_classify(CLI::App& app, const char* name, const char* help, bool linprobe) {
  struct State {
    CommonOptions common;
    tasks::ClassifyRequest request;
    std::string init, output;
    bool linprobe = false;
  };
  auto s = std::make_shared<State>();
  s->linprobe = linprobe;
  CLI::App* cmd = app.add_subcommand(name, help);
  add_common_options(cmd, &s->common, config::classify_schema(linprobe));
  add_distributed_options(cmd, &s->common);
  cmd->add_option("--init", s->init,
                  "start from these weights: a `mae pretrain` checkpoint as is, or official MAE / timm / EasyCV / "
                  "HuggingFace files (same as --set finetune.init=...)");
  cmd->add_flag("--non-strict", s->request.non_strict, "with --init: accept missing or unexpected keys (they are listed)");
  cmd->add_option("--output", s->output, "run folder (same as --set train.output_dir=...)");
  cmd->add_option("--resume", s->request.resume,
                  "continue a run: 'auto' or a checkpoint path; the run's own config.yaml (with its finetune.init) is the base "
                  "of the settings");
  cmd->add_flag("--overwrite", s->request.overwrite,
                "start a new run in a run folder that holds another: its config.yaml, metrics, checkpoints and pictures are "
                "removed first (without it such a folder is refused)");
  return [s]() {
    if (!s->output.empty()) s->common.settings.sets.push_back("train.output_dir=" + s->output);
    const auto device = start_distributed(s->common, apply_common_options(s->common));
    core::install_stop_signals();
    const auto result = tasks::run_classify(config::resolve_classify(s->linprobe, s->common.settings, s->init, s->request.resume), device, s->request);
    distributed::finish();
    return result.train.interrupted ? core::kExitInterrupted : 0;
  };
}

}  // namespace

Runner register_finetune(CLI::App& app) {
  return register_classify(app, "finetune",
                           "fine-tune a ViT classifier (all blocks, or the last k: finetune.trainable_blocks)",
                           /*linprobe=*/false);
}

Runner register_linprobe(CLI::App& app) {
  return register_classify(app, "linprobe", "linear probe: frozen encoder, BatchNorm + Linear head, LARS",
                           /*linprobe=*/true);
}

}  // namespace mae::app
