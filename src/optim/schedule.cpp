#include "mae/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace mae::optim {

double LrSchedule::at(double epoch) const {
  if (epoch < warmup_epochs) return lr * epoch / warmup_epochs;
  const double span = std::max(epochs - warmup_epochs, 1e-12);
  const double progress = std::min((epoch - warmup_epochs) / span, 1.0);
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

double scaled_lr(double blr, long long batch_size, long long accum_iter, long long world_size) {
  return blr * static_cast<double>(batch_size * accum_iter * world_size) / 256.0;
}

}  // namespace mae::optim
