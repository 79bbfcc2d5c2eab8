// Multi-head self-attention (timm's Attention): qkv projection, softmax(q k^T * scale) v, proj.
// Three paths computing the same function: `plain` (ATen ops composed as the official code: the
// reference, and the path of fused=false), `fused` (scaled_dot_product_attention: flash /
// memory-efficient kernels) and `explicit` (the plain formulation as one autograd node,
// explicit_attention.h). With fused=true, CUDA takes `fused` and the CPU the faster of `fused`
// and `explicit` for the call's length, head dim and dtype, as measured (cpu_path).
// Legend: N batch, T tokens, D width, h heads.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

// kAuto: per call by cpu_path() (CUDA: kSdpa); the others force one path (kPlain: the reference).
enum class AttentionPath { kAuto, kPlain, kSdpa, kExplicit };

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias = true, bool fused = true);
  // x: [N, T, D] -> [N, T, D]
  torch::Tensor forward(const torch::Tensor& x);
  // residual + forward(x), with the residual added inside proj (linear.h: residual_linear).
  torch::Tensor forward_residual(const torch::Tensor& x, const torch::Tensor& residual);
  torch::Tensor forward_plain(const torch::Tensor& x);
  torch::Tensor forward_fused(const torch::Tensor& x);
  // The plain path's formulation as one autograd node (explicit_attention.h).
  torch::Tensor forward_explicit(const torch::Tensor& x);

  // The path forward() takes for x on the CPU under kAuto: kSdpa or kExplicit.
  AttentionPath cpu_path(const torch::Tensor& x) const;

  // Selects the path used by forward(): fused = kAuto, not fused = kPlain (model.fused_attn).
  void set_fused(bool fused) { path_ = fused ? AttentionPath::kAuto : AttentionPath::kPlain; }
  bool fused() const { return path_ != AttentionPath::kPlain; }
  // One path for every call (benchmarks compare the paths in whole models).
  void set_path(AttentionPath path) { path_ = path; }

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  // [N, T, D] -> q, k, v each [N, h, T, D/h]
  std::vector<torch::Tensor> split_heads(const torch::Tensor& x);
  // The heads' outputs concatenated, proj's input: [N, T, D] -> [N, T, D], by `path` (not kAuto).
  torch::Tensor heads(const torch::Tensor& x, AttentionPath path);
  // path_, with kAuto resolved for x.
  AttentionPath resolved_path(const torch::Tensor& x) const;
  int64_t num_heads_, head_dim_;
  double scale_;
  AttentionPath path_ = AttentionPath::kAuto;
};
TORCH_MODULE(Attention);

// Selects the fused or plain path in every Attention inside `model`.
void set_fused_attention(torch::nn::Module& model, bool fused);
// Forces `path` in every Attention inside `model`.
void set_attention_path(torch::nn::Module& model, AttentionPath path);

}  // namespace mae::models
