// `mae finetune` and `mae linprobe`: a ViT classifier trained on labels, starting from any weights
// io::load_weights reads (a `mae pretrain` checkpoint straight away: the encoder is taken over, the
// decoder dropped, a head created) or from scratch. One task covers the official recipes:
//   finetune  all blocks, layer-wise lr decay, AdamW, drop path, RandAugment / RandomErasing /
//             Mixup / CutMix / label smoothing as configured, global pooling + fc_norm by default;
//             finetune.trainable_blocks = k >= 0 trains only the last k blocks (+ norm) and the head
//             (partial fine-tuning; k = 0 is the head alone);
//   linprobe  frozen encoder, cls token, head = BatchNorm1d(affine=False) + Linear, LARS.
// Every epoch ends with an evaluation on the val split (top-1, top-k); checkpoint-best keeps the
// best weights.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/config.h"
#include "mae/data/loader.h"
#include "mae/eval/classification.h"
#include "mae/io/load_report.h"
#include "mae/models/vision_transformer.h"
#include "mae/train/trainer.h"

namespace mae::data {
class Mixup;
}

namespace mae::train {

// Every key of `mae finetune` (model.*, data.*, aug.*, train.*, optim.*, log.*, finetune.*), with
// the built-in default: the small Fashion-MNIST ViT of `mae pretrain`'s default.
core::Config finetune_config();
// The same keys with the linear probe's defaults (finetune.mode=linprobe, LARS, cls token, ...).
core::Config linprobe_config();

// The metadata of a weights file when it is one of our checkpoints (empty otherwise).
std::map<std::string, std::string> mae_metadata(const std::string& weights_path);
// Copies the model's shape facts of our checkpoint metadata into model.* keys that still hold
// their defaults (keys set by a file or --set win, e.g. another img_size to fine-tune at).
// with_head: also num_classes, global_pool and probe_head of a fine-tuned checkpoint.
void adopt_model_shape(const std::map<std::string, std::string>& metadata, bool with_head, core::Config* config);
// The data.* keys of the config stored in our checkpoint (the data it was trained on).
void adopt_data_config(const std::map<std::string, std::string>& metadata, core::Config* config);

// Shape facts, class names and the resolved config, stored with every classifier checkpoint.
std::map<std::string, std::string> vit_checkpoint_metadata(const core::Config& config,
                                                           const models::VisionTransformerOptions& model,
                                                           const std::vector<std::string>& class_names);
// The class names stored by vit_checkpoint_metadata (empty when absent).
std::vector<std::string> stored_class_names(const std::map<std::string, std::string>& metadata);

// `config` must outlive the task (it is read as training goes).
class ClassifyTask : public Task {
 public:
  ClassifyTask(const core::Config& config, torch::Device device, int64_t num_classes, std::vector<std::string> class_names);
  ~ClassifyTask() override;
  torch::nn::Module& model() override { return *model_; }
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, Scalars* scalars) override;
  std::vector<ParamGroup> param_groups(double weight_decay) override;
  std::map<std::string, std::string> checkpoint_metadata() override;
  void end_epoch(int64_t epoch, const std::string& run_dir, Scalars* summary) override;

  models::VisionTransformer& vit() { return model_; }
  // Loads starting weights (report logged) and re-initialises a head the source did not have.
  io::LoadReport init_from(const std::string& path, bool non_strict);
  eval::ClassificationMetrics evaluate();
  // On resume: the best top-1 so far, from the run's checkpoint-best.
  void restore_best(const std::string& run_dir);
  const eval::ClassificationMetrics& last_metrics() const { return last_; }
  double best_top1() const { return best_top1_; }

 private:
  void freeze_for_mode();

  const core::Config& config_;
  torch::Device device_;
  models::VisionTransformer model_{nullptr};
  std::vector<std::string> class_names_;
  bool linprobe_;
  uint64_t seed_;
  std::unique_ptr<data::Mixup> mixup_;
  double smoothing_;
  std::unique_ptr<data::Loader> val_loader_;
  eval::ClassificationMetrics last_;
  double best_top1_ = -1;
};

// A ViT for inference (eval, predict, k-NN, embed) with weights from any file io::load_weights
// reads. model.* of `config` describe it (adopt_model_shape fills them from our checkpoints);
// with_head: a classification head of model.num_classes (0: the val split's class count);
// otherwise no head and forward() returns features. The model is in eval mode on `device`.
struct LoadedViT {
  models::VisionTransformer model{nullptr};
  std::vector<std::string> class_names;  // stored in the checkpoint, else the data's, else "0", "1", ...
  io::LoadReport report;
};
LoadedViT load_vit(const core::Config& config, const std::string& weights_path, const torch::Device& device, bool with_head,
                   bool non_strict = false);

struct ClassifyRequest {
  std::string resume;       // "", "auto" or a checkpoint path
  std::string init;         // weights to start from; "" = finetune.init, and empty there = scratch
  bool non_strict = false;  // accept missing / unexpected keys in `init`
};

struct ClassifyResult {
  TrainResult train;
  eval::ClassificationMetrics last;  // evaluation after the last epoch
  double best_top1 = 0;
};

// Runs the whole job (config is taken by value: the init checkpoint's shape facts and the data's
// class count are filled in).
ClassifyResult run_classify(core::Config config, const torch::Device& device, const ClassifyRequest& request);

}  // namespace mae::train
