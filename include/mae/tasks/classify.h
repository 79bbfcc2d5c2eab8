// `mae finetune` and `mae linprobe`: a ViT classifier trained on labels, starting from any weights
// weights::load_weights reads (a `mae pretrain` checkpoint straight away: the encoder is taken over, the
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

#include "mae/core/choice.h"
#include "mae/data/factory.h"
#include "mae/data/augment/mixup.h"
#include "mae/data/loader/loader.h"
#include "mae/eval/classification.h"
#include "mae/weights/load_report.h"
#include "mae/models/vision_transformer.h"
#include "mae/tasks/training_run.h"
#include "mae/train/trainer.h"

namespace mae::data {
class Mixup;
}

namespace mae::tasks {

// Everything `mae finetune` / `mae linprobe` run with (config/settings.h fills it from model.*,
// data.*, aug.*, train.*, optim.*, log.* and finetune.*). The defaults are the built-in fine-tuning
// run; ClassifyOptions::linprobe() the linear probe's.
// finetune.mode: ClassifyOptions::linprobe false or true.
inline constexpr core::Choice<bool> kFinetuneModeNames[] = {{false, "finetune"}, {true, "linprobe"}};

struct ClassifyOptions {
  models::VisionTransformerOptions model;  // num_classes 0: from the data
  data::DataOptions data;
  data::MixupOptions mixup;                // mixup / cutmix off unless set; label_smoothing also without them
  train::TrainerOptions trainer;
  bool linprobe = false;                   // finetune.mode: finetune, or linprobe (frozen encoder)
  std::string init;                        // weights to start from ("": random init)
  int64_t trainable_blocks = -1;           // -1: all; k >= 0: the last k blocks + head
  double head_init_std = 2e-5;             // std of a new head's weight
  int64_t eval_every = 1;                  // evaluate every N epochs (and after the last)
  double layer_decay = 0.75;               // layer-wise lr decay (1: off)
  std::string config_yaml;                 // the resolved settings, saved with the run and its checkpoints
  RenderConfig render_config;              // config_yaml again once train.precision=auto is settled (training_run.h)

  ClassifyOptions();                       // the built-in fine-tuning defaults
  static ClassifyOptions linprobe_defaults();
  void validate() const;
  // model.num_classes from the training data when 0; checks that the data is labelled and agrees.
  void settle_num_classes(data::Splits& splits);
};

// Our checkpoint's class names, else the data's, else "0", "1", ... up to num_classes.
std::vector<std::string> resolve_class_names(const std::vector<std::string>& stored, data::Splits& splits, data::Split split,
                                             int64_t num_classes);

// `options` must outlive the task.
class ClassifyTask : public train::Task {
 public:
  // `splits`: the data's (options.data.source), shared with the caller.
  ClassifyTask(const ClassifyOptions& options, torch::Device device, data::Splits splits, std::vector<std::string> class_names);
  ~ClassifyTask() override;
  torch::nn::Module& model() override { return *model_; }
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) override;
  std::vector<optim::ParamGroup> param_groups(double weight_decay) override;
  std::map<std::string, std::string> checkpoint_metadata() override;
  void end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) override;

  models::VisionTransformer& vit() { return model_; }
  // Loads starting weights (report logged) and re-initialises a head the source did not have.
  weights::LoadReport init_from(const std::string& path, bool non_strict);
  eval::ClassificationMetrics evaluate();
  // On resume: the best top-1 so far, from the run's checkpoint-best.
  void restore_best(const std::string& run_dir);
  const eval::ClassificationMetrics& last_metrics() const { return last_; }
  double best_top1() const { return best_top1_; }

 private:
  void freeze_for_mode();

  const ClassifyOptions& options_;
  torch::Device device_;
  data::Splits splits_;
  models::VisionTransformer model_{nullptr};
  std::vector<std::string> class_names_;
  std::unique_ptr<data::Mixup> mixup_;
  std::unique_ptr<data::Loader> val_loader_;
  eval::ClassificationMetrics last_;
  double best_top1_ = -1;
};

// A ViT for inference (eval, predict, k-NN, embed) with weights from any file weights::load_weights
// reads. `model` describes it (the settings edge fills it from our checkpoints' facts); with_head:
// a classification head of model.num_classes (0: the val split's class count); otherwise no head
// and forward() returns features. The model is in eval mode on `device`.
struct LoadedViT {
  models::VisionTransformer model{nullptr};
  std::vector<std::string> class_names;  // stored in the checkpoint, else the data's, else "0", "1", ...
  weights::LoadReport report;
};
LoadedViT load_vit(models::VisionTransformerOptions model, data::Splits& splits, const std::string& weights_path,
                   const torch::Device& device, bool with_head, bool non_strict = false);

struct ClassifyRequest {
  std::string resume;       // "", "auto" or a checkpoint path
  bool non_strict = false;  // accept missing / unexpected keys in options.init
  bool overwrite = false;   // a new run into a folder that holds another: remove the old run's files first
};

struct ClassifyResult {
  train::TrainResult train;
  eval::ClassificationMetrics last;  // evaluation after the last epoch
  double best_top1 = 0;
};

// Runs the whole job (options by value: the data's class count is filled in).
ClassifyResult run_classify(ClassifyOptions options, const torch::Device& device, const ClassifyRequest& request);

}  // namespace mae::tasks
