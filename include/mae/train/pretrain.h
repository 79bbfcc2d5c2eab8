// `mae pretrain`: MAE pretraining as the official main_pretrain.py, on any data source.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "mae/core/config.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/train/trainer.h"

namespace mae::train {

// Every key `mae pretrain` reads (model.*, data.*, train.*, optim.*, log.*, visualize.*, knn.*), with
// the built-in default: a small MAE on Fashion-MNIST that trains in minutes on a laptop CPU.
core::Config pretrain_config();

// The model's shape facts and the resolved config, stored with every checkpoint so that
// visualize / finetune / export rebuild the model without the original config file.
std::map<std::string, std::string> mae_checkpoint_metadata(const core::Config& config, const models::MaeViTOptions& model);

class PretrainTask : public Task {
 public:
  PretrainTask(const core::Config& config, torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, Scalars* scalars) override;
  std::vector<ParamGroup> param_groups(double weight_decay) override;
  std::map<std::string, std::string> checkpoint_metadata() override;
  void end_epoch(int64_t epoch, const std::string& run_dir, Scalars* summary) override;

  models::MaskedAutoencoderViT& mae() { return model_; }
  // Masking noise of a batch: per sample, from (seed, epoch, dataset index) only.
  torch::Tensor masking_noise(const torch::Tensor& indices, int64_t epoch) const;

 private:
  const core::Config& config_;
  torch::Device device_;
  void write_reconstructions(int64_t epoch, const std::string& run_dir, Scalars* summary);
  void run_knn(Scalars* summary);

  models::MaskedAutoencoderViT model_{nullptr};
  models::VisionTransformer knn_vit_{nullptr};  // the encoder's copy for the k-NN monitor
  double mask_ratio_;
  uint64_t seed_;
};

struct PretrainRequest {
  std::string resume;  // "", "auto" or a checkpoint path
  std::string init;    // "" or weights to start from (weights only; any scheme io::load_weights reads)
  bool non_strict = false;  // --init: accept missing / unexpected keys (listed in the report)
};

// Runs the whole job: run folder, config.yaml, lr print-out, training, final reconstructions.
TrainResult run_pretrain(const core::Config& config, const torch::Device& device, const PretrainRequest& request);

}  // namespace mae::train
