// LARS (layer-wise adaptive rate scaling), the optimizer of MAE's linear probe (the official
// util/lars.py, after Goyal et al.'s large-batch SGD). For every parameter with more than one
// dimension, the update g + weight_decay * p is rescaled by trust_coefficient * |p| / |update|
// (1 when either norm is zero); 1-D parameters (biases, norms) get the plain gradient. Then SGD
// momentum: mu = momentum * mu + update; p -= lr * mu.
#pragma once

#include <torch/torch.h>

namespace mae::optim {

struct LarsOptions : public torch::optim::OptimizerCloneableOptions<LarsOptions> {
  explicit LarsOptions(double lr = 0) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, trust_coefficient) = 0.001;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double value) override { lr(value); }
};

struct LarsParamState : public torch::optim::OptimizerCloneableParamState<LarsParamState> {
  TORCH_ARG(torch::Tensor, momentum_buffer);
};

class Lars : public torch::optim::Optimizer {
 public:
  Lars(const std::vector<torch::optim::OptimizerParamGroup>& groups, LarsOptions defaults);
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace mae::optim
