// mae visualize: reconstruction pictures of MAE weights (ours, official .pth, HuggingFace).
#include <filesystem>

#include "command.h"
#include "mae/config/settings.h"
#include "mae/tasks/visualize.h"
#include "mae/train/checkpoint.h"

namespace mae::app {

Runner register_visualize(CLI::App& app) {
  struct State {
    tasks::VisualizeRequest request;
    CommonOptions common;  // --config / --set go on top of the checkpoint's own config
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("visualize", "PNG of original | masked | reconstruction | pasted, plus per-image loss JSON");
  cmd->add_option("weights", s->request.checkpoint,
                  "MAE weights with the decoder: a `mae pretrain` checkpoint, an official .pth (e.g. mae_visualize_vit_large.pth) "
                  "or a HuggingFace ViTMAE file; files without our config take the model from --config / --set")
      ->required();
  cmd->add_option("--input", s->request.inputs, "images instead of the data's split: folders, list files or image files (repeatable)");
  cmd->add_option("--output", s->request.output_dir, "folder for reconstruction.png and reconstruction.json")->capture_default_str();
  cmd->add_option("--num-images", s->request.num_images, "the first N images of the split")->capture_default_str();
  cmd->add_option("--indices", s->request.indices, "these dataset indices instead (space separated)");
  cmd->add_option("--mask-seed", s->request.mask_seed, "seed of the random masks (same seed, same masks)")->capture_default_str();
  cmd->add_option("--mask", s->request.mask_file,
                  "per image the masked patch indices: one line each, or a reconstruction.json from an earlier run")
      ->check(CLI::ExistingFile);
  add_choice(cmd, "--split", s->request.split, data::kSplitNames, "the data split to draw from");
  add_common_options(cmd, &s->common, config::pretrain_schema());
  return [s]() {
    const auto device = apply_common_options(s->common);
    const std::string& path = s->request.checkpoint;
    const std::string ours = train::checkpoint_stem_of(path) + ".safetensors";  // a stem names our checkpoint
    const std::string weights = std::filesystem::exists(ours) ? ours : path;
    tasks::run_visualize(config::resolve_visualize(weights, s->common.settings), s->request, device);
    return 0;
  };
}

}  // namespace mae::app
