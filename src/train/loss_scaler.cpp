#include "mae/train/loss_scaler.h"

namespace mae::train {

void LossScaler::unscale(const std::vector<torch::Tensor>& params, const LossScaleState& state) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  torch::NoGradGuard no_grad;
  if (!grads.empty()) torch::_foreach_mul_(grads, 1.0 / state.scale);
}

LossScaler::Update LossScaler::update(LossScaleState& state, bool overflow) const {
  if (overflow) {
    const double lowered = state.scale * options_.backoff_factor;
    if (lowered < options_.min_scale) return Update::kCollapsed;
    state.scale = lowered;
    state.growth_tracker = 0;
    return Update::kBackedOff;
  }
  if (++state.growth_tracker < options_.growth_interval) return Update::kKept;
  state.scale *= options_.growth_factor;
  state.growth_tracker = 0;
  return Update::kGrew;
}

}  // namespace mae::train
