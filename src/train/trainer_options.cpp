#include "mae/train/trainer_options.h"

#include "mae/core/error.h"
#include "mae/optim/schedule.h"

namespace mae::train {

double TrainerOptions::effective_lr() const {
  return lr > 0 ? lr : optim::scaled_lr(blr, batch_size, accum_iter, world_size);
}

std::string describe_lr(const TrainerOptions& o) {
  const int64_t effective_batch = o.batch_size * o.accum_iter * o.world_size;
  const std::string batch = str("effective batch ", effective_batch, " = ", o.batch_size, " per process x ", o.accum_iter,
                                " accum x ", o.world_size, " process(es)");
  if (o.lr > 0) return str(batch, "; lr ", o.lr, " (optim.lr, absolute: optim.blr ", o.blr, " is not used)");
  return str(batch, "; base lr ", o.blr, ", lr ", o.effective_lr(), " (= blr * ", effective_batch, " / 256)");
}

void TrainerOptions::validate() const {
  MAE_CHECK_USAGE(epochs > 0, "train.epochs must be positive, got ", epochs);
  MAE_CHECK_USAGE(batch_size > 0, "train.batch_size must be positive, got ", batch_size);
  MAE_CHECK_USAGE(accum_iter > 0, "train.accum_iter must be positive, got ", accum_iter);
  MAE_CHECK_USAGE(warmup_epochs >= 0, "train.warmup_epochs must be >= 0, got ", warmup_epochs);
  MAE_CHECK_USAGE(blr > 0 || lr > 0, "optim.blr (or optim.lr) must be positive");
  MAE_CHECK_USAGE(lr >= 0 && min_lr >= 0, "optim.lr and optim.min_lr must be >= 0");
  MAE_CHECK_USAGE(weight_decay >= 0, "optim.weight_decay must be >= 0, got ", weight_decay);
  MAE_CHECK_USAGE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "optim.betas [", beta1, ", ", beta2,
                  "] must lie in [0, 1)");
  MAE_CHECK_USAGE(clip_grad >= 0, "train.clip_grad must be >= 0 (0: off), got ", clip_grad);
  MAE_CHECK_USAGE(!run_dir.empty(), "train.output_dir must not be empty");
  MAE_CHECK_USAGE(save_every >= 0 && keep_last >= 0, "train.save_every and train.keep_last must be >= 0");
  MAE_CHECK_USAGE(save_every_steps >= 0 && save_every_minutes >= 0,
                  "train.save_every_steps and train.save_every_minutes must be >= 0 (0: off)");
  MAE_CHECK_USAGE(log_every > 0, "log.every must be positive, got ", log_every);
  MAE_CHECK_USAGE(nonfinite_patience > 0, "train.nonfinite_patience must be positive");
  MAE_CHECK_USAGE(nonfinite_lr_factor > 0 && nonfinite_lr_factor <= 1, "train.nonfinite_lr_factor must lie in (0, 1]");
  MAE_CHECK_USAGE(max_steps >= 0, "train.max_steps must be >= 0 (0: off)");
  MAE_CHECK_USAGE(bucket_mb > 0, "train.bucket_mb must be positive, got ", bucket_mb);
}

}  // namespace mae::train
