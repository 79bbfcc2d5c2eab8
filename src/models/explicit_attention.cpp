#include "mae/models/explicit_attention.h"

#include <atomic>

#include "mae/core/gemm_batch.h"
#include "mae/kernels/softmax.h"

namespace mae::models {
namespace {

std::atomic<int64_t> calls{0}, in_place_calls{0};
std::atomic<bool> in_place_enabled{true};

// Pointers to the N*h head matrices [T, d] of a [N, T, width] tensor (head j of sample i at
// column offset + j*d: in place in the qkv projection's output, the output or their gradients), and
// to the N*h consecutive [T, T] matrices of a contiguous [N*h, T, T] tensor.
struct Heads {
  int64_t n, t, heads, d;

  template <typename T>
  std::vector<T*> blocks(T* base, int64_t width, int64_t offset) const {
    std::vector<T*> out(n * heads);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < heads; ++j) out[i * heads + j] = base + i * t * width + offset + j * d;
    }
    return out;
  }

  template <typename T>
  std::vector<T*> squares(T* base) const {
    std::vector<T*> out(n * heads);
    for (int64_t i = 0; i < n * heads; ++i) out[i] = base + i * t * t;
    return out;
  }
};

// attn: [N*h, T, T] contiguous, in place: softmax over the last dim (our kernel for fp32 where it
// runs: ATen's finishes each short row with scalar code).
void softmax_in_place(torch::Tensor& attn) {
  if (attn.scalar_type() == torch::kFloat32 && kernels::available()) {
    kernels::softmax_rows(attn.data_ptr<float>(), attn.numel() / attn.size(-1), attn.size(-1));
  } else {
    at::_softmax_out(attn, attn, -1, false);  // in place: each row's max and sum are read before it is written
  }
}

// grad_attn: dP on entry, dS (the gradient of the scores) on return; attn: P, both [N*h, T, T].
void softmax_backward_in_place(torch::Tensor& grad_attn, const torch::Tensor& attn) {
  if (attn.scalar_type() == torch::kFloat32 && kernels::available()) {
    kernels::softmax_backward_rows(grad_attn.data_ptr<float>(), attn.data_ptr<float>(), attn.numel() / attn.size(-1),
                                   attn.size(-1));
  } else {
    grad_attn = at::_softmax_backward_data(grad_attn, attn, -1, attn.scalar_type());
  }
}

template <typename T>
std::vector<const T*> read_only(const std::vector<T*>& v) {
  return {v.begin(), v.end()};
}

template <typename T>
core::GemmBatch<T> product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha) {
  core::GemmBatch<T> g;
  g.trans_a = trans_a, g.trans_b = trans_b, g.m = m, g.n = n, g.k = k, g.alpha = static_cast<T>(alpha);
  return g;
}

// q, k, v read in place from qkv [N, T, 3D] and the output written in place into [N, T, D], through
// batched GEMMs over per-head pointers: no head-major copies in either direction.
template <typename T>
struct InPlace {
  // qkv: [N, T, 3D] contiguous -> (out [N, T, D], attn [N*h, T, T] = softmax(q k^T * scale))
  static std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& qkv, int64_t heads, double scale) {
    const int64_t n = qkv.size(0), t = qkv.size(1), w = qkv.size(2) / 3;
    const Heads layout{n, t, heads, w / heads};
    auto attn = at::empty({n * heads, t, t}, qkv.options());
    auto out = at::empty({n, t, w}, qkv.options());
    T* base = qkv.data_ptr<T>();
    auto s = product<T>(false, true, t, t, layout.d, scale);  // S = q k^T * scale
    s.a = read_only(layout.blocks(base, 3 * w, 0)), s.lda = 3 * w;
    s.b = read_only(layout.blocks(base, 3 * w, w)), s.ldb = 3 * w;
    s.c = layout.squares(attn.data_ptr<T>()), s.ldc = t;
    core::gemm_batch(s);
    softmax_in_place(attn);
    auto o = product<T>(false, false, t, layout.d, t, 1.0);  // out = P v
    o.a = read_only(s.c), o.lda = t;
    o.b = read_only(layout.blocks(base, 3 * w, 2 * w)), o.ldb = 3 * w;
    o.c = layout.blocks(out.data_ptr<T>(), w, 0), o.ldc = w;
    core::gemm_batch(o);
    return {out, attn};
  }

  // grad_out: [N, T, D] contiguous -> d qkv [N, T, 3D]
  static torch::Tensor backward(const torch::Tensor& grad_out, const torch::Tensor& qkv, const torch::Tensor& attn, int64_t heads,
                                double scale) {
    const int64_t n = qkv.size(0), t = qkv.size(1), w = qkv.size(2) / 3;
    const Heads layout{n, t, heads, w / heads};
    auto grad_qkv = at::empty_like(qkv);  // every element is written: dq | dk | dv
    auto grad_attn = at::empty_like(attn);
    T* base = qkv.data_ptr<T>();
    T* grad_base = grad_qkv.data_ptr<T>();
    const auto q = read_only(layout.blocks(base, 3 * w, 0)), k = read_only(layout.blocks(base, 3 * w, w)),
               v = read_only(layout.blocks(base, 3 * w, 2 * w));
    const auto probs = read_only(layout.squares(attn.data_ptr<T>()));
    const auto grad_heads = read_only(layout.blocks(grad_out.data_ptr<T>(), w, 0));
    auto dv = product<T>(true, false, t, layout.d, t, 1.0);  // dv = P^T dO
    dv.a = probs, dv.lda = t, dv.b = grad_heads, dv.ldb = w;
    dv.c = layout.blocks(grad_base, 3 * w, 2 * w), dv.ldc = 3 * w;
    core::gemm_batch(dv);
    auto dp = product<T>(false, true, t, t, layout.d, 1.0);  // dP = dO v^T
    dp.a = grad_heads, dp.lda = w, dp.b = v, dp.ldb = 3 * w;
    dp.c = layout.squares(grad_attn.data_ptr<T>()), dp.ldc = t;
    core::gemm_batch(dp);
    softmax_backward_in_place(grad_attn, attn);  // dS
    const auto ds = read_only(layout.squares(grad_attn.data_ptr<T>()));
    auto dq = product<T>(false, false, t, layout.d, t, scale);  // dq = dS k * scale
    dq.a = ds, dq.lda = t, dq.b = k, dq.ldb = 3 * w;
    dq.c = layout.blocks(grad_base, 3 * w, 0), dq.ldc = 3 * w;
    core::gemm_batch(dq);
    auto dk = product<T>(true, false, t, layout.d, t, scale);  // dk = dS^T q * scale
    dk.a = ds, dk.lda = t, dk.b = q, dk.ldb = 3 * w;
    dk.c = layout.blocks(grad_base, 3 * w, w), dk.ldc = 3 * w;
    core::gemm_batch(dk);
    return grad_qkv;
  }
};

bool runs_in_place(const torch::Tensor& qkv) {
  return in_place_enabled.load() && qkv.is_cpu() && core::gemm_batch_available() &&
         (qkv.scalar_type() == torch::kFloat32 || qkv.scalar_type() == torch::kFloat64);
}

struct ExplicitAttention : public torch::autograd::Function<ExplicitAttention> {
  // qkv: [N, T, 3D] -> [N, T, D]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv, int64_t heads, double scale) {
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["heads"] = heads;
    if (runs_in_place(qkv)) {
      ++in_place_calls;
      const auto qkv_c = qkv.contiguous();
      auto [out, attn] = qkv.scalar_type() == torch::kFloat32 ? InPlace<float>::forward(qkv_c, heads, scale)
                                                              : InPlace<double>::forward(qkv_c, heads, scale);
      ctx->save_for_backward({qkv_c, attn});
      ctx->saved_data["in_place"] = true;
      return out;
    }
    const int64_t n = qkv.size(0), t = qkv.size(1), d = qkv.size(2) / (3 * heads);
    const auto qkv_h = qkv.view({n, t, 3, heads, d}).permute({2, 0, 3, 1, 4}).contiguous().view({3, n * heads, t, d});
    const auto q = qkv_h[0], k = qkv_h[1], v = qkv_h[2];  // [N*h, T, d]
    // beta = 0: baddbmm ignores the uninitialised input, NaNs in it included.
    auto attn = at::empty({n * heads, t, t}, qkv.options()).baddbmm_(q, k.transpose(1, 2), 0.0, scale);  // [N*h, T, T]
    softmax_in_place(attn);
    const auto out = at::bmm(attn, v);  // [N*h, T, d]
    ctx->save_for_backward({qkv_h, attn});
    ctx->saved_data["in_place"] = false;
    return out.view({n, heads, t, d}).transpose(1, 2).reshape({n, t, heads * d});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& attn = saved[1];  // [N*h, T, T]
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t heads = ctx->saved_data["heads"].toInt();
    if (ctx->saved_data["in_place"].toBool()) {
      const auto& qkv = saved[0];  // [N, T, 3D]
      const auto grad_out = grads[0].to(qkv.scalar_type()).contiguous();
      auto grad_qkv = qkv.scalar_type() == torch::kFloat32 ? InPlace<float>::backward(grad_out, qkv, attn, heads, scale)
                                                           : InPlace<double>::backward(grad_out, qkv, attn, heads, scale);
      return {grad_qkv, torch::Tensor(), torch::Tensor()};
    }
    const auto& qkv_h = saved[0];  // [3, N*h, T, d]
    const int64_t nh = qkv_h.size(1), t = qkv_h.size(2), d = qkv_h.size(3), n = nh / heads;
    const auto q = qkv_h[0], k = qkv_h[1], v = qkv_h[2];
    const auto grad_out = grads[0].reshape({n, t, heads, d}).transpose(1, 2).reshape({nh, t, d}).to(qkv_h.scalar_type());
    auto grad_qkv_h = at::empty_like(qkv_h);  // [3, N*h, T, d]: dq, dk, dv
    auto grad_v = grad_qkv_h[2];
    at::bmm_out(grad_v, attn.transpose(1, 2), grad_out);  // dv = P^T dO
    auto grad_attn = at::bmm(grad_out, v.transpose(1, 2));  // dP
    softmax_backward_in_place(grad_attn, attn);              // dS
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
int64_t explicit_attention_in_place_calls() { return in_place_calls.load(); }
void set_explicit_attention_in_place(bool enabled) { in_place_enabled = enabled; }

}  // namespace mae::models
