// A torch::nn::Linear applied through ATen's linear: the bias is fused into the GEMM (addmm) for
// inputs of any rank, and autocast casts it with the weight. The C++ frontend's forward instead
// multiplies and then adds the bias in place, which for [N, T, D] inputs costs an extra pass and,
// under bf16 autocast, adds an fp32 bias into a bf16 output element by element (measured: a
// ViT-Tiny step 28 % slower in bf16 on CPU).
#pragma once

#include <torch/torch.h>

namespace mae::models {

inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return torch::linear(x, layer->weight, layer->bias);
}

}  // namespace mae::models
