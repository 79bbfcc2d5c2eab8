// train.*, optim.* and log.* configuration keys of the Trainer.
#include "mae/train/trainer.h"

#include "mae/core/error.h"
#include "mae/dist/process_group.h"

namespace mae::train {

void add_trainer_config(core::Config& c) {
  using core::ValueType;
  c.add("train.epochs", ValueType::kInt, "2", "epochs to train");
  c.add("train.warmup_epochs", ValueType::kFloat, "1", "linear warmup epochs (then half-cycle cosine)");
  c.add("train.batch_size", ValueType::kInt, "256", "batch per process and micro-step");
  c.add("train.accum_iter", ValueType::kInt, "1", "micro-steps accumulated per optimizer step");
  c.add("train.clip_grad", ValueType::kFloat, "0", "clip the global gradient norm to this (0: off, as official)");
  c.add("train.precision", ValueType::kString, "fp32", "fp32 or bf16 (autocast; loss stays fp32)");
  c.add("train.seed", ValueType::kInt, "0", "seed of every random stream (data, masking, init)");
  c.add("train.output_dir", ValueType::kString, "runs/pretrain", "run folder: config, checkpoints, metrics, pictures");
  c.add("train.save_every", ValueType::kInt, "1", "numbered checkpoint every N epochs (checkpoint-last every epoch)");
  c.add("train.keep_last", ValueType::kInt, "3", "numbered checkpoints kept (0: all)");
  c.add("train.nonfinite_patience", ValueType::kInt, "5", "non-finite steps in a row before rolling back");
  c.add("train.nonfinite_action", ValueType::kString, "stop", "after rolling back: stop, or continue with a lower lr");
  c.add("train.nonfinite_lr_factor", ValueType::kFloat, "0.5", "lr factor applied on each rollback with 'continue'");
  c.add("train.max_steps", ValueType::kInt, "0", "stop after N optimizer steps without saving, as if interrupted (0: off)");
  c.add("train.grad_checkpointing", ValueType::kBool, "false", "recompute each block's activations in backward: less memory, ~1/3 more compute");
  c.add("train.bucket_mb", ValueType::kFloat, "25", "distributed: gradient all-reduce bucket size in MiB (as DDP's bucket_cap_mb)");
  c.add("optim.blr", ValueType::kFloat, "1.5e-4", "base lr; lr = blr * batch * accum_iter * world_size / 256");
  c.add("optim.lr", ValueType::kFloat, "0", "absolute lr (0: derive from optim.blr)");
  c.add("optim.min_lr", ValueType::kFloat, "0", "lr at the end of the cosine");
  c.add("optim.weight_decay", ValueType::kFloat, "0.05", "AdamW weight decay (not on biases and 1-D parameters)");
  c.add("optim.no_weight_decay", ValueType::kString, "", "extra parameter names without weight decay, comma-separated");
  c.add("optim.optimizer", ValueType::kString, "adamw", "adamw, or lars (momentum 0.9, trust 1e-3: the linear probe's)");
  c.add("optim.fused", ValueType::kBool, "true", "AdamW update as one fused kernel per group (false: LibTorch's per-parameter loop)");
  c.add("optim.betas", ValueType::kFloatList, "0.9,0.95", "AdamW betas");
  c.add("log.every", ValueType::kInt, "20", "optimizer steps between metric records");
  c.add("log.progress", ValueType::kString, "auto", "auto, bar, lines or none");
  c.add("log.jsonl", ValueType::kBool, "true", "write metrics.jsonl");
  c.add("log.tensorboard", ValueType::kBool, "true", "write TensorBoard event files");
}

TrainerOptions trainer_options_from_config(const core::Config& c) {
  TrainerOptions o;
  o.epochs = c.get_int("train.epochs");
  o.warmup_epochs = c.get_float("train.warmup_epochs");
  o.batch_size = c.get_int("train.batch_size");
  o.accum_iter = c.get_int("train.accum_iter");
  o.clip_grad = c.get_float("train.clip_grad");
  o.precision = c.get_string("train.precision");
  o.seed = static_cast<uint64_t>(c.get_int("train.seed"));
  o.run_dir = c.get_string("train.output_dir");
  o.save_every = c.get_int("train.save_every");
  o.keep_last = c.get_int("train.keep_last");
  o.nonfinite_patience = c.get_int("train.nonfinite_patience");
  o.nonfinite_action = c.get_string("train.nonfinite_action");
  o.nonfinite_lr_factor = c.get_float("train.nonfinite_lr_factor");
  o.max_steps = c.get_int("train.max_steps");
  o.bucket_mb = c.get_float("train.bucket_mb");
  o.grad_checkpointing = c.get_bool("train.grad_checkpointing");
  o.world_size = dist::world_size();
  o.blr = c.get_float("optim.blr");
  o.lr = c.get_float("optim.lr");
  o.min_lr = c.get_float("optim.min_lr");
  o.weight_decay = c.get_float("optim.weight_decay");
  o.optimizer = c.get_string("optim.optimizer");
  o.fused_optimizer = c.get_bool("optim.fused");
  const auto betas = c.get_float_list("optim.betas");
  MAE_CHECK_USAGE(betas.size() == 2, "optim.betas needs two values, got ", betas.size());
  o.beta1 = betas[0], o.beta2 = betas[1];
  o.log_every = c.get_int("log.every");
  o.progress = c.get_string("log.progress");
  o.jsonl = c.get_bool("log.jsonl");
  o.tensorboard = c.get_bool("log.tensorboard");
  MAE_CHECK_USAGE(o.batch_size > 0, "train.batch_size must be positive, got ", o.batch_size);
  MAE_CHECK_USAGE(o.bucket_mb > 0, "train.bucket_mb must be positive, got ", o.bucket_mb);
  MAE_CHECK_USAGE(o.nonfinite_patience > 0, "train.nonfinite_patience must be positive");
  return o;
}

}  // namespace mae::train
