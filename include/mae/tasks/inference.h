// The commands that use a trained model without training it: `mae eval` (accuracy, per-class
// accuracy, confusion matrix), `mae predict` (top-k classes per image), `mae knn` (k-NN accuracy
// of the features) and `mae embed` (features of images to a file). Each takes any weights
// weights::load_weights reads; our checkpoints also bring the model's shape and the data they were
// trained on, so `mae eval runs/finetune/checkpoint-best.safetensors` needs nothing else.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/factory.h"
#include "mae/tasks/knn_monitor.h"
#include "mae/eval/classification.h"

namespace mae::tasks {

// --split of the commands that read a chosen split (eval, embed, visualize, stats).

// What these commands run with (config/settings.h fills it: defaults < the checkpoint's facts and
// data settings < --config < --set).
struct InferenceOptions {
  models::VisionTransformerOptions model;  // num_classes 0: the val split's class count
  data::DataOptions data;
  KnnOptions knn;
};

// Metrics with the names of their classes (the checkpoint's, else the data's; numbers when neither
// has any), so that what is printed names the classes as metrics.json does.
struct NamedMetrics {
  eval::ClassificationMetrics metrics;
  std::vector<std::string> class_names;
};

struct EvalRequest {
  std::string checkpoint;
  std::string output_dir;     // metrics.json, confusion.csv, confusion.png ("" : none written)
  data::Split split = data::Split::kVal;  // evaluation transform either way
  bool non_strict = false;
};
NamedMetrics run_eval(const InferenceOptions& options, const EvalRequest& request, const torch::Device& device);

// What predict and embed did: images with a result, and the paths of those that could not be read
// (predict writes a row with an "error" for each; embed leaves them out and lists them apart).
struct InferenceCount {
  int64_t done = 0;
  std::vector<std::string> unreadable;
};

enum class PredictFormat { kJsonl, kCsv };
inline constexpr core::Choice<PredictFormat> kPredictFormatNames[] = {{PredictFormat::kJsonl, "jsonl"}, {PredictFormat::kCsv, "csv"}};

struct PredictRequest {
  std::string checkpoint;
  std::string output;           // file; "" or "-": standard output
  PredictFormat format = PredictFormat::kJsonl;
  int64_t top_k = 5;
};
// JSON lines {"path", "top": [{"class", "index", "prob"}]}, or {"path", "error"} for an image that
// could not be read; CSV: path, class1, prob1, ..., error.
InferenceCount run_predict(const InferenceOptions& options, const PredictRequest& request, const torch::Device& device);

// k-NN accuracy of the checkpoint's encoder features (options.knn).
NamedMetrics run_knn(const InferenceOptions& options, const std::string& checkpoint, const torch::Device& device);

struct EmbedRequest {
  std::string checkpoint;
  std::string output;         // .safetensors ("features", "indices") or .npy; paths in <output>.paths.txt,
                              // unreadable images in <output>.unreadable.txt
  std::optional<Pool> pool;  // none: knn.pool (mean for a fine-tuned global-pool checkpoint, else cls)
  data::Split split = data::Split::kVal;
};
InferenceCount run_embed(const InferenceOptions& options, const EmbedRequest& request, const torch::Device& device);

}  // namespace mae::tasks
