// `mae visualize`: reconstructions by MAE weights (our checkpoints, official .pth files such as the
// demo's mae_visualize_vit_large.pth, HuggingFace ViTMAE files) on chosen images, as a PNG grid
// (original | masked | reconstruction | reconstruction with visible patches pasted) and a JSON
// file with each image's masked-patch loss and the exact mask used, so another checkpoint or
// another tool can be compared on the very same mask (`--mask` reads that file back).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>


#include "mae/data/factory.h"
#include "mae/tasks/pretrain.h"

namespace mae::tasks {

struct VisualizeRequest {
  std::string checkpoint;             // weights: one of our checkpoints (stem or .safetensors), or any MAE file
                                      // weights::load_weights reads (with the decoder)
  std::vector<std::string> inputs;    // images instead of the data split: folders, list files, image files
  std::string output_dir = ".";
  std::vector<int64_t> indices;       // dataset (or input) indices; empty: the first num_images
  int64_t num_images = 8;
  uint64_t mask_seed = 0;             // masks drawn from (mask_seed, image index)
  std::string mask_file;              // per image the masked patch indices (text lines or our JSON)
  data::Split split = data::Split::kVal;  // both with the evaluation transform
};

struct VisualizeResult {
  std::string png, json;
  std::vector<double> masked_patch_loss;
  bool used_patch_statistics = false;
};

// `options`: the checkpoint's own settings with the user's on top (config/settings.h); its model
// and data describe what is drawn.
VisualizeResult run_visualize(const PretrainOptions& options, const VisualizeRequest& request, const torch::Device& device);

// One line per image of masked patch indices ("3 17 42" or "3,17,42"), or the JSON that
// run_visualize writes. Throws UsageError naming the file and line.
std::vector<std::vector<int64_t>> read_mask_file(const std::string& path);

}  // namespace mae::tasks
