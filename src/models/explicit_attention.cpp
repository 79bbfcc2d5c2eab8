#include "mae/models/explicit_attention.h"

#include <atomic>

namespace mae::models {
namespace {

std::atomic<int64_t> calls{0};

struct ExplicitAttention : public torch::autograd::Function<ExplicitAttention> {
  // qkv: [N, T, 3D] -> [N, T, D]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv, int64_t heads, double scale) {
    const int64_t n = qkv.size(0), t = qkv.size(1), d = qkv.size(2) / (3 * heads);
    const auto qkv_h = qkv.view({n, t, 3, heads, d}).permute({2, 0, 3, 1, 4}).contiguous().view({3, n * heads, t, d});
    const auto q = qkv_h[0], k = qkv_h[1], v = qkv_h[2];  // [N*h, T, d]
    // beta = 0: baddbmm ignores the uninitialised input, NaNs in it included.
    auto attn = at::empty({n * heads, t, t}, qkv.options()).baddbmm_(q, k.transpose(1, 2), 0.0, scale);  // [N*h, T, T]
    at::_softmax_out(attn, attn, -1, false);  // in place: each row's max and sum are read before it is written
    const auto out = at::bmm(attn, v);  // [N*h, T, d]
    ctx->save_for_backward({qkv_h, attn});
    ctx->saved_data["scale"] = scale;
    return out.view({n, heads, t, d}).transpose(1, 2).reshape({n, t, heads * d});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& qkv_h = saved[0];  // [3, N*h, T, d]
    const auto& attn = saved[1];   // [N*h, T, T]
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t nh = qkv_h.size(1), t = qkv_h.size(2), d = qkv_h.size(3), n = grads[0].size(0), heads = nh / n;
    const auto q = qkv_h[0], k = qkv_h[1], v = qkv_h[2];
    const auto grad_out = grads[0].reshape({n, t, heads, d}).transpose(1, 2).reshape({nh, t, d}).to(qkv_h.scalar_type());
    auto grad_qkv_h = at::empty_like(qkv_h);  // [3, N*h, T, d]: dq, dk, dv
    auto grad_v = grad_qkv_h[2];
    at::bmm_out(grad_v, attn.transpose(1, 2), grad_out);  // dv = P^T dO
    const auto grad_attn = at::_softmax_backward_data(at::bmm(grad_out, v.transpose(1, 2)), attn, -1, attn.scalar_type());  // dS
    grad_qkv_h[0].baddbmm_(grad_attn, k, 0.0, scale);                  // dq = dS k * scale
    grad_qkv_h[1].baddbmm_(grad_attn.transpose(1, 2), q, 0.0, scale);  // dk = dS^T q * scale
    auto grad_qkv = grad_qkv_h.view({3, n, heads, t, d}).permute({1, 3, 0, 2, 4}).reshape({n, t, 3 * heads * d});
    return {grad_qkv, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor explicit_attention(const torch::Tensor& qkv, int64_t num_heads, double scale) {
  ++calls;
  return ExplicitAttention::apply(qkv, num_heads, scale);
}

int64_t explicit_attention_calls() { return calls.load(); }

}  // namespace mae::models
