// The one training loop shared by pretraining, fine-tuning and linear probing: a Task supplies
// the model, the loss of a batch and its parameter groups; the Trainer owns the schedule,
// accumulation, mixed precision, the non-finite guard, checkpoints, metrics and resume.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/loader/batch_source.h"
#include "mae/distributed/gradient_sync.h"
#include "mae/train/checkpoint.h"
#include "mae/train/loss_scaler.h"
#include "mae/train/metrics_log.h"
#include "mae/train/precision.h"
#include "mae/optim/param_groups.h"
#include "mae/train/trainer_options.h"

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



struct TrainResult {
  int64_t epochs_completed = 0;
  int64_t steps = 0;
  int64_t skipped_steps = 0;
  int64_t overflow_steps = 0;  // fp16: steps skipped by the loss scaler (gradient overflow), not counted in skipped_steps
  double first_loss = 0, last_loss = 0, last_epoch_loss = 0;  // first step, last logged window, last epoch
  double seconds = 0;
  double comm_wait_seconds = 0;  // distributed: time the step waited for gradient all-reduces
  bool stopped_early = false;  // max_steps reached
  bool interrupted = false;    // a stop signal: checkpoint-last was written, the run can continue with --resume auto
};

// One loop for every task, in the phases of the official train_one_epoch: begin the run, begin an
// epoch, micro-steps (forward + backward, gradients accumulated), agree and step (ranks agree on
// the loss, the optimizer steps or the non-finite guard skips), log, end the epoch (evaluate,
// save). Batches come from any data::BatchSource, so a unit test can drive it with a few tensors.
class Trainer {
 public:
  Trainer(TrainerOptions options, Task& task, data::BatchSource& batches, torch::Device device);
  ~Trainer();

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
  enum class EpochEnd { kCompleted, kRolledBack, kStopped, kInterrupted };
  struct Window;  // what is accumulated between two metric records

  void begin_run();
  void check_ranks_agree_on_position();
  EpochEnd train_one_epoch(int64_t epoch);
  void begin_epoch(int64_t epoch, int64_t first_batch);
  void micro_step(const data::Batch& batch, int64_t epoch, bool final_micro_step);
  // Returns false when the non-finite guard rolled back to the last good checkpoint.
  bool agree_and_step();
  void log_window(int64_t epoch, int64_t batch_index, bool last_step);
  // checkpoint-last inside the epoch, every train.save_every_steps steps or save_every_minutes.
  void save_if_due();
  // save(), or with train.on_save_error=warn a warning and another try at the next save.
  void save_or_warn(bool numbered);
  void end_epoch(int64_t epoch);
  TrainResult finish();

  enum class StepOutcome { kStepped, kOverflow, kNonFinite, kScaleCollapsed };
  // One optimizer step over the accumulated gradients (unscaled first under fp16), or why not.
  StepOutcome step(double loss_value, double* grad_norm);
  void handle_nonfinite(int64_t consecutive);

  TrainerOptions options_;
  Task& task_;
  data::BatchSource& batches_;
  torch::Device device_;
  Precision precision_;
  LossScaler scaler_;  // fp16 only; its state is state_.loss_scale
  std::vector<optim::ParamGroup> groups_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<distributed::GradientSync> sync_;  // averages gradients over ranks (inactive alone)
  TrainState state_;
  std::string last_good_stem_;

  // The run in progress (fit()).
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<Progress> progress_;
  std::unique_ptr<Window> window_;
  TrainResult result_;
  int64_t steps_per_epoch_ = 0, steps_this_process_ = 0, consecutive_nonfinite_ = 0;
  bool first_loss_seen_ = false;
  std::chrono::steady_clock::time_point run_start_, last_save_;
  bool stop_agreed_ = false;    // a stop signal reached a rank; every rank saves and stops together
  bool save_time_due_ = false;  // train.save_every_minutes passed on rank 0's clock (agreed by all ranks)
};

}  // namespace mae::train
