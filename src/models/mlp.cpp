#include "mae/models/mlp.h"
#include "mae/models/linear.h"

namespace mae::models {

MlpImpl::MlpImpl(int64_t in_features, int64_t hidden_features) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, hidden_features));
  fc2 = register_module("fc2", torch::nn::Linear(hidden_features, in_features));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return linear(fc2, torch::gelu(linear(fc1, x))); }

}  // namespace mae::models
