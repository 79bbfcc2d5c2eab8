// Transformer feed-forward (timm's Mlp): fc1 -> GELU (exact erf form) -> fc2.
// On CPU in fp32 with AVX-512, fc1's bias and the GELU run as one pass forward and one backward
// (kernels/bias_gelu.h) instead of ATen's addmm + gelu; elsewhere, ATen's ops. Both compute the same.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in_features, int64_t hidden_features);
  // x: [..., in] -> [..., in]
  torch::Tensor forward(const torch::Tensor& x);
  // residual + forward(x), with the residual added inside fc2 (linear.h: residual_linear).
  torch::Tensor forward_residual(const torch::Tensor& x, const torch::Tensor& residual);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  // gelu(fc1(x)): [..., in] -> [..., hidden]
  torch::Tensor hidden(const torch::Tensor& x);
};
TORCH_MODULE(Mlp);

// How many Mlp forwards took the fused bias + GELU path since the start of the process (tests
// check that the path they mean to measure ran).
int64_t mlp_fused_bias_gelu_calls();
// Switches the fused path (on by default where available) off, for tests and benchmarks that
// compare it with ATen's ops.
void set_mlp_fused_bias_gelu(bool enabled);

}  // namespace mae::models
