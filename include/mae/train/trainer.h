// The one training loop shared by pretraining, fine-tuning and linear probing: a Task supplies
// the model, the loss of a batch and its parameter groups; the Trainer owns the schedule,
// accumulation, mixed precision, the non-finite guard, checkpoints, metrics and resume.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/loader.h"
#include "mae/distributed/gradient_sync.h"
#include "mae/train/checkpoint.h"
#include "mae/train/metrics_log.h"
#include "mae/optim/param_groups.h"

namespace mae::train {

class Task {
 public:
  virtual ~Task() = default;
  virtual torch::nn::Module& model() = 0;
  // The loss of one micro-batch (a 0-dim fp32 tensor on the device), called inside autocast.
  // `scalars` may receive extra per-step values to log.
  virtual torch::Tensor loss(const data::Batch& batch, int64_t epoch, Scalars* scalars) = 0;
  virtual std::vector<optim::ParamGroup> param_groups(double weight_decay) = 0;
  // Written into every checkpoint's weights file (config, shape facts).
  virtual std::map<std::string, std::string> checkpoint_metadata() = 0;
  // After each epoch, on every rank (a distributed evaluation needs them all; writing files is
  // rank 0's): evaluation, pictures. May add to the epoch summary.
  virtual void end_epoch(int64_t epoch, const std::string& run_dir, Scalars* summary) {}
};

struct TrainerOptions {
  int64_t epochs = 1;
  double warmup_epochs = 0;
  double blr = 1.5e-4, lr = 0, min_lr = 0;  // lr > 0 overrides blr scaling
  double weight_decay = 0.05;
  std::vector<std::string> no_weight_decay;  // parameter names without weight decay, besides biases and 1-D ones
  std::string optimizer = "adamw";  // or "lars" (linear probe)
  bool fused_optimizer = true;       // AdamW as one kernel per group (fused_adamw.h)
  double beta1 = 0.9, beta2 = 0.95;
  int64_t batch_size = 64, accum_iter = 1;
  int64_t world_size = 1;  // processes of a data-parallel job (set from distributed::world_size())
  double bucket_mb = 25;   // gradient all-reduce bucket size
  bool grad_checkpointing = false;  // activation checkpointing of every transformer block
  double clip_grad = 0;  // 0: off
  std::string precision = "fp32";
  uint64_t seed = 0;
  std::string run_dir = "runs/pretrain";
  int64_t save_every = 1, keep_last = 3;
  int64_t log_every = 20;
  std::string progress = "auto";
  bool jsonl = true, tensorboard = true;
  int64_t nonfinite_patience = 5;
  std::string nonfinite_action = "stop";  // or "continue"
  double nonfinite_lr_factor = 0.5;
  int64_t max_steps = 0;  // stop after this many optimizer steps in this process (0: no limit)

  double effective_lr() const;
  void validate() const;  // throws UsageError naming the train.* / optim.* / log.* key
};

// "effective batch 256 = 256 per process x 1 accum x 1 process(es); base lr 0.001, lr 0.001 (= blr * 256 / 256)",
// or the absolute optim.lr and why blr is not used: what the run prints at its start.
std::string describe_lr(const TrainerOptions& options);

struct TrainResult {
  int64_t epochs_completed = 0;
  int64_t steps = 0;
  int64_t skipped_steps = 0;
  double first_loss = 0, last_loss = 0, last_epoch_loss = 0;  // first step, last logged window, last epoch
  double seconds = 0;
  double comm_wait_seconds = 0;  // distributed: time the step waited for gradient all-reduces
  bool stopped_early = false;  // max_steps reached
};

class Trainer {
 public:
  Trainer(TrainerOptions options, Task& task, data::Loader& loader, torch::Device device);

  // Continues from a checkpoint stem (see checkpoint.h): weights, optimizer, position.
  void resume_from(const std::string& stem);
  // --resume: "auto" (the newest valid checkpoint in the run folder; false when there is none yet),
  // or a checkpoint path. Returns whether a checkpoint was loaded.
  bool resume(const std::string& request);
  TrainResult fit();

  const TrainState& state() const { return state_; }
  const std::vector<optim::ParamGroup>& groups() const { return groups_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  // Writes checkpoint-last (and a numbered one on schedule) for the current state.
  void save(bool numbered);

 private:
  // One optimizer step over accumulated gradients; false when skipped as non-finite.
  bool step(double loss_value, double* grad_norm);
  void handle_nonfinite(int64_t consecutive);

  TrainerOptions options_;
  Task& task_;
  data::Loader& loader_;
  torch::Device device_;
  std::vector<optim::ParamGroup> groups_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<distributed::GradientSync> sync_;  // averages gradients over ranks (inactive alone)
  TrainState state_;
  std::string last_good_stem_;
};

}  // namespace mae::train
