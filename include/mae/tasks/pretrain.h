// `mae pretrain`: MAE pretraining as the official main_pretrain.py, on any data source.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "mae/data/factory.h"
#include "mae/tasks/knn_monitor.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/tasks/training_run.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

// Everything `mae pretrain` runs with (config/settings.h fills it from model.*, data.*, train.*,
// optim.*, log.*, visualize.* and knn.*). The defaults are the built-in run: a small MAE
// (mae_vit_mini_patch4_dec64d2b4h) on Fashion-MNIST that trains in minutes on a laptop CPU.
struct PretrainOptions {
  models::MaeViTOptions model;
  double mask_ratio = 0.75;
  data::DataOptions data;
  train::TrainerOptions trainer;
  int64_t visualize_num_images = 8;  // images in the reconstruction picture
  int64_t visualize_every = 0;       // every N epochs (0: after the last only)
  std::vector<int64_t> visualize_channels;  // bands (from 1) drawn as RGB or grey; empty: eval/band_picture.h
  KnnOptions knn;
  bool knn_random_init = true;       // with knn.every: also measure the randomly initialised encoder, as the baseline
  std::string config_yaml;           // the resolved settings, saved with the run and its checkpoints
  RenderConfig render_config;        // config_yaml again once train.precision=auto is settled (training_run.h)

  PretrainOptions();                 // the built-in defaults
  void validate() const;             // throws UsageError naming the key
};

class PretrainTask : public train::Task {
 public:
  // `options` must outlive the task.
  PretrainTask(const PretrainOptions& options, torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) override;
  std::vector<optim::ParamGroup> param_groups(double weight_decay) override;
  std::map<std::string, std::string> checkpoint_metadata() override;
  void end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) override;
  // With knn.every: checks that the data has labels (else the monitor is off, with a warning) and,
  // with knn.random_init, measures the encoder as initialised from train.seed (the baseline).
  // Returns whether the monitor is on.
  bool start_knn();
  // "k-NN top-1 (...): random init A % -> after pretraining B %" once the monitor ran; else "".
  std::string knn_comparison() const;
  // The split the reconstruction pictures come from: val, or train when there is no val split.
  data::Split picture_split() const;
  data::Splits& splits() { return splits_; }  // the data's splits, each read once: train loader, pictures, k-NN

  models::MaskedAutoencoderViT& mae() { return model_; }
  // Masking noise of a batch: per sample, from (seed, epoch, dataset index) only.
  torch::Tensor masking_noise(const torch::Tensor& indices, int64_t epoch) const;

 private:
  const PretrainOptions& options_;
  torch::Device device_;
  data::Splits splits_;
  void write_reconstructions(int64_t epoch, const std::string& run_dir, train::Scalars* summary);
  void run_knn(train::Scalars* summary);
  eval::ClassificationMetrics encoder_knn(models::MaskedAutoencoderViT& mae);
  bool knn_off_ = false;
  std::optional<double> knn_random_init_, knn_last_;
  int64_t knn_bank_ = 0;  // train images in the last measurement's bank (its queries: the metrics' count)
  int64_t knn_queries_ = 0;

  models::MaskedAutoencoderViT model_{nullptr};
  models::VisionTransformer knn_vit_{nullptr};  // the encoder's copy for the k-NN monitor
};

struct PretrainRequest {
  std::string resume;  // "", "auto" or a checkpoint path
  std::string init;    // "" or weights to start from (weights only; any scheme weights::load_weights reads)
  bool non_strict = false;  // --init: accept missing / unexpected keys (listed in the report)
  bool overwrite = false;   // a new run into a folder that holds another: remove the old run's files first
};

// Runs the whole job: run folder, config.yaml, lr print-out, training, final reconstructions.
train::TrainResult run_pretrain(const PretrainOptions& options, const torch::Device& device, const PretrainRequest& request);

}  // namespace mae::tasks
