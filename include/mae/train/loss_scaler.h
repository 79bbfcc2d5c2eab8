// Dynamic loss scaling for fp16 autocast, with the semantics of torch.cuda.amp.GradScaler (the
// official MAE code's NativeScaler): the loss is multiplied by the scale before backward, so that
// small gradients survive fp16; before the optimizer step the gradients are divided by it. A step
// whose gradients hold inf/NaN (an fp16 overflow) is skipped and the scale halved; after
// growth_interval good steps in a row the scale doubles.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace mae::train {

// What a checkpoint keeps (TrainState), so that a resumed run scales as the uninterrupted one.
struct LossScaleState {
  double scale = 65536.0;  // 2^16, GradScaler's init_scale
  int64_t growth_tracker = 0;  // good steps since the scale last changed
};

struct LossScalerOptions {
  double growth_factor = 2.0, backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  // Below this the scale has collapsed: gradients overflow fp16 even unscaled, the run diverges.
  double min_scale = 1.0;
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {}) : options_(options) {}

  // loss * scale: what backward starts from.
  static torch::Tensor scale_loss(const torch::Tensor& loss, const LossScaleState& state) { return loss * state.scale; }
  // Divides every defined gradient of `params` by the scale, in place (before clipping, logging
  // the gradient norm and the step).
  static void unscale(const std::vector<torch::Tensor>& params, const LossScaleState& state);

  enum class Update { kKept, kGrew, kBackedOff, kCollapsed };
  // After each optimizer step: `overflow` when the unscaled gradients held inf/NaN (the step was
  // skipped). kCollapsed: the scale would fall below min_scale; it is left where it was.
  Update update(LossScaleState& state, bool overflow) const;

  const LossScalerOptions& options() const { return options_; }

 private:
  LossScalerOptions options_;
};

}  // namespace mae::train
