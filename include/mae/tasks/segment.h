// `mae segment`: semantic segmentation from an MAE encoder, the paper's ADE20K transfer
// (models/segmenter.h: ViT + Feature2Pyramid + UPerHead + FCN auxiliary head, or a linear head),
// trained on image + label map pairs (data/segmentation/pairs.h) with AdamW, layer-wise lr decay
// (0.65 in the paper's recipe), warmup then cosine, drop path; the encoder starts from any weights
// weights::load_weights reads (a `mae pretrain` checkpoint as it is, its pos_embed resized to the crop).
// Every seg.eval_every epochs the val split is scored (mIoU, mAcc, aAcc, per class) with whole-image
// or sliding-window inference; checkpoint-best keeps the best mIoU. `mae segment-eval` and
// `mae segment-predict` read its checkpoints.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/data/segmentation/joint_transform.h"
#include "mae/data/segmentation/pairs.h"
#include "mae/eval/segmentation.h"
#include "mae/weights/load_report.h"
#include "mae/models/segmenter.h"
#include "mae/tasks/training_run.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

// Where the pairs are: the ADE20K layout (data.train_files / data.val_files name the split folders,
// "training" / "validation") or list files of `image labels` lines.
enum class PairLayout { kAde20k, kList };
inline constexpr core::Choice<PairLayout> kPairLayoutNames[] = {{PairLayout::kAde20k, "ade20k"}, {PairLayout::kList, "list"}};

// Whole: the image at once (padded to a multiple of the patch); slide: crops of the training crop
// size every seg.stride pixels, averaged where they overlap (mmseg's ADE20K test mode).
enum class SegInference { kWhole, kSlide };
inline constexpr core::Choice<SegInference> kSegInferenceNames[] = {{SegInference::kSlide, "slide"},
                                                                    {SegInference::kWhole, "whole"}};

struct SegmentDataOptions {
  PairLayout layout = PairLayout::kAde20k;
  std::string root;
  std::vector<std::string> train_files{"training"}, val_files{"validation"};
  bool reduce_zero_label = true;  // ADE20K: label 0 ("other") not scored, 1..150 -> 0..149
  std::string class_names_file;   // one name per line; "": numbers
  int num_workers = 0, prefetch_batches = 4;
  data::JointTransformOptions transform;  // crop, scale, ratio, cat_max_ratio, flip, photometric, mean / std
  void validate() const;
};

struct SegmentOptions {
  models::SegmenterOptions model;
  SegmentDataOptions data;
  train::TrainerOptions trainer;
  std::string init;               // encoder weights ("": random init)
  double layer_decay = 0.65;      // mmseg's MAE recipe (1: off)
  int64_t eval_every = 1;         // 0: after the last epoch only
  SegInference inference = SegInference::kSlide;
  int64_t stride = 0;             // sliding windows: 0 is 2/3 of the crop (341 for 512, as mmseg)
  bool avg_non_ignore = true;     // the loss: mean over labelled pixels; false: over all pixels (mmseg's default)
  std::string config_yaml;        // the resolved settings, saved with the run and its checkpoints
  RenderConfig render_config;

  SegmentOptions();               // the built-in defaults: a small ViT on 64 x 64 crops
  void validate() const;
};

struct SegmentRequest {
  std::string resume;       // "", "auto" or a checkpoint path
  bool non_strict = false;  // accept missing / unexpected encoder keys in options.init
  bool overwrite = false;
};

struct SegmentResult {
  train::TrainResult train;
  eval::SegmentationMetrics last;
  double best_miou = 0;
};

// The pairs of a split (Split::kVal: data.val_files), checked and ready to read.
std::shared_ptr<const data::PairSource> read_pairs(const SegmentDataOptions& data, data::Split split);
std::vector<std::string> segmentation_class_names(const SegmentDataOptions& data, int64_t num_classes);

// Scores `model` (eval mode, no grad) on every pair: each image through the eval transform and the
// chosen inference, its logits resized to the label map's full resolution. `max_images` > 0: the
// first ones only. In a distributed job each rank scores its share and the matrices are summed. An
// unreadable pair is left out with a warning (the others are still scored, on every rank).
eval::SegmentationMetrics evaluate_segmenter(models::Segmenter& model, const data::PairSource& pairs,
                                             const SegmentOptions& options, const torch::Device& device,
                                             int64_t max_images = 0);
// The label map [H, W] (int64) `model` predicts for one image at its full resolution.
torch::Tensor predict_labels(models::Segmenter& model, const data::RawImage& image, const SegmentOptions& options,
                             const torch::Device& device);

// `options` must outlive the task.
class SegmentTask : public train::Task {
 public:
  SegmentTask(const SegmentOptions& options, torch::Device device, std::vector<std::string> class_names);
  torch::nn::Module& model() override { return *model_; }
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) override;
  std::vector<optim::ParamGroup> param_groups(double weight_decay) override;
  std::map<std::string, std::string> checkpoint_metadata() override;
  void end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) override;

  models::Segmenter& segmenter() { return model_; }
  // The encoder from `path` (a pretraining or classification checkpoint, timm / official / HF
  // files); the neck and heads keep their initialisation. The report is logged.
  weights::LoadReport init_from(const std::string& path, bool non_strict);
  void restore_best(const std::string& run_dir);
  const eval::SegmentationMetrics& last_metrics() const { return last_; }
  double best_miou() const { return best_miou_; }

 private:
  const SegmentOptions& options_;
  torch::Device device_;
  std::vector<std::string> class_names_;
  models::Segmenter model_{nullptr};
  std::shared_ptr<const data::PairSource> val_;
  eval::SegmentationMetrics last_;
  double best_miou_ = -1;
};

SegmentResult run_segment(SegmentOptions options, const torch::Device& device, const SegmentRequest& request);

// mae eval / mae predict of a `mae segment` checkpoint (segment_inference.cpp).
// The checkpoint's segmenter, loaded strictly, in eval mode on `device`.
models::Segmenter load_segmenter(const SegmentOptions& options, const std::string& checkpoint, const torch::Device& device);
// Scores the split; with output_dir, writes metrics.json (mIoU, mAcc, aAcc, per class) and
// per_class.csv there.
eval::SegmentationMetrics run_segment_eval(const SegmentOptions& options, const std::string& checkpoint, data::Split split,
                                           const std::string& output_dir, const torch::Device& device);
// For each image of `input` (a folder, scanned, or a list file of image paths, relative to its
// folder; "": the val split's images) writes into output_dir NAME.png (the class index of each
// pixel, 8-bit grey, at the image's size) and NAME_overlay.png (the image under the classes'
// colours; 8-bit images), and a classes.csv of index, name and colour. Returns the images done.
int64_t run_segment_predict(const SegmentOptions& options, const std::string& checkpoint, const std::string& input,
                            const std::string& output_dir, const torch::Device& device);

}  // namespace mae::tasks
