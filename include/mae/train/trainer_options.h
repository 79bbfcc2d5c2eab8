// How the Trainer trains: schedule, optimizer, precision, checkpoints, logging, the non-finite
// guard. The settings edge (config/settings.h) fills it from the train.*, optim.* and log.* keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mae/core/choice.h"

namespace mae::train {

// optim.optimizer: AdamW, or LARS (momentum 0.9, trust 1e-3: the linear probe's).
enum class OptimizerKind { kAdamW, kLars };
inline constexpr core::Choice<OptimizerKind> kOptimizerNames[] = {{OptimizerKind::kAdamW, "adamw"}, {OptimizerKind::kLars, "lars"}};

// train.precision (precision.h): auto is settled before training (tasks/precision_choice.h).
enum class Precision { kAuto, kFp32, kBf16, kFp16 };
inline constexpr core::Choice<Precision> kPrecisionNames[] = {
    {Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}, {Precision::kFp16, "fp16"}};

// train.on_save_error: a checkpoint that cannot be written stops the run (exit 1), or warns and is retried.
enum class SaveErrorAction { kStop, kWarn };
inline constexpr core::Choice<SaveErrorAction> kSaveErrorActionNames[] = {{SaveErrorAction::kStop, "stop"},
                                                                         {SaveErrorAction::kWarn, "warn"}};

// log.progress: a bar on a terminal and lines otherwise (auto), always a bar, always lines, or nothing.
enum class ProgressMode { kAuto, kBar, kLines, kNone };
inline constexpr core::Choice<ProgressMode> kProgressModeNames[] = {
    {ProgressMode::kAuto, "auto"}, {ProgressMode::kBar, "bar"}, {ProgressMode::kLines, "lines"}, {ProgressMode::kNone, "none"}};

// train.nonfinite_action: after rolling back to the last good checkpoint, stop or continue with a lower lr.
enum class NonfiniteAction { kStop, kContinue };
inline constexpr core::Choice<NonfiniteAction> kNonfiniteActionNames[] = {{NonfiniteAction::kStop, "stop"},
                                                                         {NonfiniteAction::kContinue, "continue"}};

struct TrainerOptions {
  int64_t epochs = 1;
  double warmup_epochs = 0;
  double blr = 1.5e-4, lr = 0, min_lr = 0;  // lr > 0 overrides blr scaling
  double weight_decay = 0.05;
  std::vector<std::string> no_weight_decay;  // parameter names without weight decay, besides biases and 1-D ones
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  bool fused_optimizer = true;       // AdamW as one kernel per group (fused_adamw.h)
  double beta1 = 0.9, beta2 = 0.95;
  int64_t batch_size = 64, accum_iter = 1;
  int64_t world_size = 1;  // processes of a data-parallel job (set from distributed::world_size())
  double bucket_mb = 25;   // gradient all-reduce bucket size
  bool grad_checkpointing = false;  // activation checkpointing of every transformer block
  double clip_grad = 0;  // 0: off
  Precision precision = Precision::kFp32;  // precision.h
  bool tf32 = false;                // TF32 matmuls/convolutions on Ampere+ GPUs
  uint64_t seed = 0;
  std::string run_dir = "runs/pretrain";
  int64_t save_every = 1, keep_last = 3;  // numbered checkpoints: every N epochs, the newest kept
  int64_t save_every_steps = 0;           // checkpoint-last inside an epoch every N optimizer steps (0: off)
  double save_every_minutes = 0;          // ... or every N minutes of wall clock (0: off)
  SaveErrorAction on_save_error = SaveErrorAction::kStop;
  int64_t log_every = 20;
  ProgressMode progress = ProgressMode::kAuto;
  bool jsonl = true, tensorboard = true;
  int64_t nonfinite_patience = 5;
  NonfiniteAction nonfinite_action = NonfiniteAction::kStop;
  double nonfinite_lr_factor = 0.5;
  int64_t max_steps = 0;  // stop after this many optimizer steps in this process (0: no limit)

  double effective_lr() const;
  void validate() const;  // throws UsageError naming the train.* / optim.* / log.* key
};

// "effective batch 256 = 256 per process x 1 accum x 1 process(es); base lr 0.001, lr 0.001 (= blr * 256 / 256)",
// or the absolute optim.lr and why blr is not used: what the run prints at its start.
std::string describe_lr(const TrainerOptions& options);

}  // namespace mae::train
