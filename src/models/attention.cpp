#include "mae/models/attention.h"

#include <cmath>

#include <ATen/autocast_mode.h>

#include "mae/core/error.h"
#include "mae/kernels/available.h"
#include "mae/models/explicit_attention.h"
#include "mae/models/linear.h"

namespace mae::models {

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, bool fused)
    : num_heads_(num_heads), head_dim_(num_heads > 0 ? dim / num_heads : 0) {
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
  auto parts = linear(qkv, x).split(num_heads_ * head_dim_, -1);
  for (auto& p : parts) p = p.view({n, t, num_heads_, head_dim_}).transpose(1, 2);
  return parts;
}

torch::Tensor AttentionImpl::heads(const torch::Tensor& x, AttentionPath path) {
  if (path == AttentionPath::kExplicit) return explicit_attention(linear(qkv, x), num_heads_, scale_);
  const auto qkv_heads = split_heads(x);
  torch::Tensor out;  // [N, h, T, D/h]
  if (path == AttentionPath::kSdpa) {
    out = at::scaled_dot_product_attention(qkv_heads[0], qkv_heads[1], qkv_heads[2]);
  } else {
    auto attn = torch::matmul(qkv_heads[0], qkv_heads[1].transpose(-2, -1)) * scale_;  // [N, h, T, T]
    out = torch::matmul(attn.softmax(-1), qkv_heads[2]);
  }
  return out.transpose(1, 2).reshape({x.size(0), x.size(1), -1});
}

torch::Tensor AttentionImpl::forward_plain(const torch::Tensor& x) { return linear(proj, heads(x, AttentionPath::kPlain)); }
torch::Tensor AttentionImpl::forward_fused(const torch::Tensor& x) { return linear(proj, heads(x, AttentionPath::kSdpa)); }
torch::Tensor AttentionImpl::forward_explicit(const torch::Tensor& x) {
  return linear(proj, heads(x, AttentionPath::kExplicit));
}

namespace {
bool low_precision_on_cpu(const torch::Tensor& x) {
  if (x.scalar_type() == torch::kBFloat16 || x.scalar_type() == torch::kHalf) return true;
  return at::autocast::is_autocast_enabled(torch::kCPU) && at::autocast::get_autocast_dtype(torch::kCPU) != torch::kFloat32;
}
}  // namespace

// Measured with bench/bench_attention (forward + backward of the module, 2-core AVX512 Xeon,
// LibTorch 2.15; bench/results/attention_cpu_torch2.15.0.csv). In bf16 LibTorch's CPU flash kernel
// is 1.4-6x slower than the explicit matmuls at every length measured (13-257 tokens). In fp32 the
// explicit node reads the heads in place; with our softmax kernel (kernels::available()) it is
// ahead of the flash kernel from 5 to 197 tokens at every head dim (16, 32, 64), by 5-33 % (level
// at 145 tokens with head dim 16), and from 224 tokens at head dim 64. From 224 tokens at head dim
// 16 flash is 3-11 % ahead (level at 257); at 257 tokens with head dim 32 the two runs split (0.98x,
// 1.08x). With ATen's softmax, whose scalar row tails cost most on short rows, flash also wins
// below 16 tokens at head dims up to 32 and from 224 tokens at head dim 32.
AttentionPath AttentionImpl::cpu_path(const torch::Tensor& x) const {
  if (low_precision_on_cpu(x)) return AttentionPath::kExplicit;
  const int64_t tokens = x.size(1);
  if (kernels::available()) return head_dim_ <= 16 && tokens >= 224 ? AttentionPath::kSdpa : AttentionPath::kExplicit;
  if (head_dim_ <= 32 && (tokens < 16 || tokens >= 224)) return AttentionPath::kSdpa;
  return AttentionPath::kExplicit;
}

AttentionPath AttentionImpl::resolved_path(const torch::Tensor& x) const {
  if (path_ != AttentionPath::kAuto) return path_;
  return x.is_cpu() ? cpu_path(x) : AttentionPath::kSdpa;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) { return linear(proj, heads(x, resolved_path(x))); }

torch::Tensor AttentionImpl::forward_residual(const torch::Tensor& x, const torch::Tensor& residual) {
  return residual_linear(residual, proj, heads(x, resolved_path(x)));
}

void set_attention_path(torch::nn::Module& model, AttentionPath path) {
  for (auto& m : model.modules(/*include_self=*/true)) {
    if (auto* attn = m->as<Attention>()) attn->set_path(path);
  }
}

void set_fused_attention(torch::nn::Module& model, bool fused) {
  for (auto& m : model.modules(/*include_self=*/true)) {
    if (auto* attn = m->as<Attention>()) attn->set_fused(fused);
  }
}

}  // namespace mae::models
