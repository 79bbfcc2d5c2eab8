// How the Trainer trains: schedule, optimizer, precision, checkpoints, logging, the non-finite
// guard. The settings edge (config/settings.h) fills it from the train.*, optim.* and log.* keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mae::train {

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
  std::string precision = "fp32";  // fp32, bf16 or fp16 (precision.h)
  bool tf32 = false;                // TF32 matmuls/convolutions on Ampere+ GPUs
  uint64_t seed = 0;
  std::string run_dir = "runs/pretrain";
  int64_t save_every = 1, keep_last = 3;  // numbered checkpoints: every N epochs, the newest kept
  int64_t save_every_steps = 0;           // checkpoint-last inside an epoch every N optimizer steps (0: off)
  double save_every_minutes = 0;          // ... or every N minutes of wall clock (0: off)
  std::string on_save_error = "stop";     // stop (exit 1), or warn and retry at the next save
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

}  // namespace mae::train
