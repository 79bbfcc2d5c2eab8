// Transformer feed-forward (timm's Mlp): fc1 -> GELU (exact erf form) -> fc2.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in_features, int64_t hidden_features);
  // x: [..., in] -> [..., in]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace mae::models
