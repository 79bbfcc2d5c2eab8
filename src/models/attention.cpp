#include "mae/models/attention.h"

#include <cmath>

#include <torch/version.h>

#include "mae/core/error.h"

namespace mae::models {

bool fused_attention_available() {
#if TORCH_VERSION_MAJOR >= 2
  return true;
#else
  return false;
#endif
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, bool fused)
    : num_heads_(num_heads), head_dim_(num_heads > 0 ? dim / num_heads : 0), fused_(false) {
  MAE_CHECK_USAGE(num_heads > 0 && dim % num_heads == 0, "width ", dim, " is not divisible by num_heads ", num_heads,
                  "; pick a head count that divides the width");
  scale_ = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, dim * 3).bias(qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  set_fused(fused);
}

std::vector<torch::Tensor> AttentionImpl::split_heads(const torch::Tensor& x) {
  const int64_t n = x.size(0), t = x.size(1);
  // [N, T, 3D] -> 3 x [N, h, T, D/h], views into the projection's output. Splitting the last dim
  // (not unbinding a permuted copy) makes the backward one concatenation of the three gradients.
  auto parts = qkv->forward(x).split(num_heads_ * head_dim_, -1);
  for (auto& p : parts) p = p.view({n, t, num_heads_, head_dim_}).transpose(1, 2);
  return parts;
}

torch::Tensor AttentionImpl::forward_plain(const torch::Tensor& x) {
  const auto qkv_heads = split_heads(x);
  auto attn = torch::matmul(qkv_heads[0], qkv_heads[1].transpose(-2, -1)) * scale_;  // [N, h, T, T]
  attn = attn.softmax(-1);
  auto out = torch::matmul(attn, qkv_heads[2]);  // [N, h, T, D/h]
  return proj->forward(out.transpose(1, 2).reshape({x.size(0), x.size(1), -1}));
}

torch::Tensor AttentionImpl::forward_fused(const torch::Tensor& x) {
#if TORCH_VERSION_MAJOR >= 2
  const auto qkv_heads = split_heads(x);
  auto out = at::scaled_dot_product_attention(qkv_heads[0], qkv_heads[1], qkv_heads[2]);  // [N, h, T, D/h]
  return proj->forward(out.transpose(1, 2).reshape({x.size(0), x.size(1), -1}));
#else
  return forward_plain(x);
#endif
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) { return fused_ ? forward_fused(x) : forward_plain(x); }

void set_fused_attention(torch::nn::Module& model, bool fused) {
  for (auto& m : model.modules(/*include_self=*/true)) {
    if (auto* attn = m->as<Attention>()) attn->set_fused(fused);
  }
}

}  // namespace mae::models
