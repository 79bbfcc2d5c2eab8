// mae segment: a segmenter (UPerNet or a linear head on the ViT encoder) trained on image + label
// map pairs, from a pretraining checkpoint or from scratch. mae eval / mae predict take its
// checkpoints (cmd_eval.cpp).
#include "command.h"
#include "mae/core/stop_signal.h"
#include "mae/distributed/process_group.h"
#include "mae/tasks/segment.h"

namespace mae::app {

Runner register_segment(CLI::App& app) {
  struct State {
    CommonOptions common;
    tasks::SegmentRequest request;
    std::string init, output;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("segment", "semantic segmentation: UPerNet on the ViT encoder (the paper's ADE20K "
                                                "transfer) trained on image + label map pairs");
  add_common_options(cmd, &s->common, config::segment_schema());
  add_distributed_options(cmd, &s->common);
  cmd->add_option("--init", s->init,
                  "the encoder's weights: a `mae pretrain` checkpoint as is, or official MAE / timm / HuggingFace files "
                  "(same as --set seg.init=...)");
  cmd->add_flag("--non-strict", s->request.non_strict, "with --init: accept missing or unexpected encoder keys (they are listed)");
  cmd->add_option("--output", s->output, "run folder (same as --set train.output_dir=...)");
  cmd->add_option("--resume", s->request.resume, "continue a run: 'auto' or a checkpoint path");
  cmd->add_flag("--overwrite", s->request.overwrite,
                "start a new run in a run folder that holds another (its files are removed first)");
  return [s]() {
    if (!s->output.empty()) s->common.settings.sets.push_back("train.output_dir=" + s->output);
    const auto device = start_distributed(s->common, apply_common_options(s->common));
    core::install_stop_signals();
    const auto result =
        tasks::run_segment(config::resolve_segment(s->common.settings, s->init, s->request.resume), device, s->request);
    distributed::finish();
    return result.train.interrupted ? core::kExitInterrupted : 0;
  };
}

}  // namespace mae::app
