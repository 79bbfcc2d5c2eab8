// Learning-rate schedule of the official recipes: linear warmup from 0, then half-cycle cosine
// down to min_lr, evaluated at a fractional epoch (iteration / iterations_per_epoch + epoch) so it
// changes every iteration.
#pragma once

namespace mae::optim {

struct LrSchedule {
  double lr = 0.0;         // peak (absolute) learning rate
  double min_lr = 0.0;
  double warmup_epochs = 0.0;
  double epochs = 1.0;

  double at(double epoch) const;
};

// lr = blr * effective_batch / 256, effective_batch = batch x accum_iter x world_size.
double scaled_lr(double blr, long long batch_size, long long accum_iter, long long world_size);

}  // namespace mae::optim
