// Multi-head self-attention (timm's Attention): qkv projection, softmax(q k^T * scale) v, proj.
// Two paths computing the same function: `plain` (explicit matmuls, the official code's
// formulation, kept as the reference) and `fused` (scaled_dot_product_attention, which picks
// flash / memory-efficient kernels; on CPU in bf16 the plain path is used, faster there).
// Legend: N batch, T tokens, D width, h heads.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias = true, bool fused = true);
  // x: [N, T, D] -> [N, T, D]
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor forward_plain(const torch::Tensor& x);
  torch::Tensor forward_fused(const torch::Tensor& x);

  // Selects the path used by forward().
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  // [N, T, D] -> q, k, v each [N, h, T, D/h]
  std::vector<torch::Tensor> split_heads(const torch::Tensor& x);
  int64_t num_heads_, head_dim_;
  double scale_;
  bool fused_;
};
TORCH_MODULE(Attention);

// Selects the fused or plain path in every Attention inside `model`.
void set_fused_attention(torch::nn::Module& model, bool fused);

}  // namespace mae::models
