// The commands that use a trained model without training it: `mae eval` (accuracy, per-class
// accuracy, confusion matrix), `mae predict` (top-k classes per image), `mae knn` (k-NN accuracy
// of the features) and `mae embed` (features of images to a file). Each takes any weights
// io::load_weights reads; our checkpoints also bring the model's shape and the data they were
// trained on, so `mae eval runs/finetune/checkpoint-best.safetensors` needs nothing else.
#pragma once

#include <string>

#include <torch/torch.h>

#include "mae/core/config.h"
#include "mae/eval/classification.h"

namespace mae::train {

// The schema of these commands: the fine-tuning keys plus knn.*.
core::Config inference_schema();
// Fills the keys the user left at their defaults from our checkpoint's metadata: its data.*, the
// model's shape (with_head: also class count, pooling, head kind), and the feature pooling
// (knn.pool = mean for a fine-tuned global-pool model, which has fc_norm and no norm). Call after
// applying the user's --config / --set. Files without our metadata change nothing.
void adopt_checkpoint(const std::string& checkpoint, bool with_head, core::Config* config);
// inference_schema() + adopt_checkpoint.
core::Config inference_config(const std::string& checkpoint, bool with_head);

// Points the val split at images the user names: a folder (scanned recursively) or a list file
// (`path` or `path label` lines, relative to `root`, default the list's folder).
void use_image_input(const std::string& input, const std::string& root, core::Config* config);

struct EvalRequest {
  std::string checkpoint;
  std::string output_dir;     // metrics.json, confusion.csv, confusion.png ("" : none written)
  std::string split = "val";  // val or train (evaluation transform either way)
  bool non_strict = false;
};
eval::ClassificationMetrics run_eval(const core::Config& config, const EvalRequest& request, const torch::Device& device);

struct PredictRequest {
  std::string checkpoint;
  std::string output;           // file; "" or "-": standard output
  std::string format = "jsonl";  // jsonl or csv
  int64_t top_k = 5;
};
// Returns the number of images predicted.
int64_t run_predict(const core::Config& config, const PredictRequest& request, const torch::Device& device);

// k-NN accuracy of the checkpoint's encoder features (knn.* keys).
eval::ClassificationMetrics run_knn(const core::Config& config, const std::string& checkpoint, const torch::Device& device);

struct EmbedRequest {
  std::string checkpoint;
  std::string output;         // .safetensors ("features", "indices") or .npy; paths in <output>.paths.txt
  std::string pool;           // cls or mean; "": knn.pool (adopt_checkpoint picks the checkpoint's)
  std::string split = "val";
};
// Returns the number of images embedded.
int64_t run_embed(core::Config config, const EmbedRequest& request, const torch::Device& device);

}  // namespace mae::train
