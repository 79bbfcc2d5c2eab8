#include "mae/models/mlp.h"

#include <atomic>

#include <ATen/autocast_mode.h>

#include "mae/kernels/bias_gelu.h"
#include "mae/models/linear.h"

namespace mae::models {
namespace {

std::atomic<int64_t> fused_calls{0};
std::atomic<bool> fused_enabled{true};

// gelu(x W^T + b) as one autograd node: the GEMM without its bias (ATen's addmm would first copy
// the bias into the output), then bias + GELU in one pass; backward: GELU's derivative and the bias
// gradient in one pass, then the two GEMMs. Legend: M rows of x, K in, H hidden.
struct LinearGelu : public torch::autograd::Function<LinearGelu> {
  // x: [..., K], weight: [H, K], bias: [H] -> [..., H]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const auto x2 = x.reshape({-1, x.size(-1)}).contiguous();                // [M, K]
    const auto h = at::mm(x2, weight.t());                                   // [M, H], no bias
    auto out = at::empty_like(h);
    const auto b = bias.contiguous();
    kernels::bias_gelu_forward(h.data_ptr<float>(), b.data_ptr<float>(), out.data_ptr<float>(), h.size(0), h.size(1));
    ctx->save_for_backward({x2, weight, b, h});
    ctx->saved_data["x_sizes"] = x.sizes();
    auto sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    return out.view(sizes);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &weight = saved[1], &bias = saved[2], &h = saved[3];
    const auto g = grad[0].reshape({-1, weight.size(0)}).contiguous();  // [M, H]
    auto grad_h = at::empty_like(h);
    auto grad_bias = at::empty({weight.size(0)}, h.options());
    kernels::bias_gelu_backward(g.data_ptr<float>(), h.data_ptr<float>(), bias.data_ptr<float>(), grad_h.data_ptr<float>(),
                                grad_bias.data_ptr<float>(), h.size(0), h.size(1));
    torch::Tensor grad_x, grad_weight;
    if (ctx->needs_input_grad(0)) grad_x = at::mm(grad_h, weight).view(ctx->saved_data["x_sizes"].toIntVector());
    if (ctx->needs_input_grad(1)) grad_weight = at::mm(grad_h.t(), x2);
    return {grad_x, grad_weight, ctx->needs_input_grad(2) ? grad_bias : torch::Tensor()};
  }
};

bool can_fuse(const torch::Tensor& x, const torch::nn::Linear& fc1) {
  return fused_enabled && x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
         fc1->weight.scalar_type() == torch::kFloat && fc1->bias.defined() && x.size(-1) > 0 &&
         !at::autocast::is_autocast_enabled(at::kCPU) && kernels::available();
}

}  // namespace

MlpImpl::MlpImpl(int64_t in_features, int64_t hidden_features) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, hidden_features));
  fc2 = register_module("fc2", torch::nn::Linear(hidden_features, in_features));
}

torch::Tensor MlpImpl::hidden(const torch::Tensor& x) {
  if (can_fuse(x, fc1)) {
    ++fused_calls;
    return LinearGelu::apply(x, fc1->weight, fc1->bias);
  }
  return torch::gelu(linear(fc1, x));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return linear(fc2, hidden(x)); }

torch::Tensor MlpImpl::forward_residual(const torch::Tensor& x, const torch::Tensor& residual) {
  return residual_linear(residual, fc2, hidden(x));
}

int64_t mlp_fused_bias_gelu_calls() { return fused_calls.load(); }
void set_mlp_fused_bias_gelu(bool enabled) { fused_enabled = enabled; }

}  // namespace mae::models
