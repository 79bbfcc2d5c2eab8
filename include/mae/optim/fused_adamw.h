// AdamW whose update runs as one fused ATen kernel per parameter group (at::_fused_adamw_, the
// kernel behind PyTorch's `AdamW(fused=True)`, on CPU and CUDA) instead of LibTorch's loop of
// about ten element-wise ops per parameter. The state is LibTorch's AdamWParamState (exp_avg,
// exp_avg_sq, step), so checkpoints and torch::optim::AdamW are interchangeable. The plain loop is
// its twin: tests/unit/test_fused_adamw.cpp checks they agree.
#pragma once

#include <torch/torch.h>

namespace mae::optim {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  struct StepCounter {
    torch::Tensor value;  // float32 scalar on the parameter's device, as the kernel wants it
    int64_t step = -1;    // the AdamWParamState step it holds
  };
  std::unordered_map<c10::TensorImpl*, StepCounter> steps_;
};

}  // namespace mae::optim
