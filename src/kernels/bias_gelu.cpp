#include "mae/kernels/bias_gelu.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>

#include "common.h"

namespace mae::kernels {
namespace {

// Rows per partial sum of the bias gradient: the chunks, not the threads, fix the summation order,
// so the result does not depend on the thread count.
constexpr int64_t kRowsPerChunk = 256;

#if MAE_KERNELS_X86
using namespace avx512;

// For v = fc1's output plus bias: cdf = Phi(v) = (1 + erf(v / sqrt 2)) / 2, the normal CDF, and
// e = exp(-v^2 / 2), which GELU's derivative shares. erfc(z) / 2 is Abramowitz & Stegun 7.1.26
// with its coefficients halved (absolute error below 1.5e-7 / 2; the formula of ATen's vectorised
// erf). For v < 0, cdf is that term itself, not 1 minus something, so it keeps its relative
// precision in the tail.
struct Cdf {
  __m512 cdf, e;
};

MAE_AVX512 inline Cdf normal_cdf(__m512 v) {
  Cdf c;
  // z = |v| / sqrt 2, capped at 9 (erfc(9) ~ 4e-37): v = +-inf stays finite inside, e stays normal.
  const __m512 z = _mm512_min_ps(_mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0.70710678118654752f)),
                                 _mm512_set1_ps(9.0f));
  c.e = exp_nonpositive(_mm512_fnmadd_ps(z, z, _mm512_setzero_ps()));
  const __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
  __m512 t = _mm512_rcp14_ps(d);
  t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));  // one Newton step: ~24 bits
  __m512 p = _mm512_set1_ps(0.5f * 1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.5f * -1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.5f * 1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.5f * -0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.5f * 0.254829592f));
  const __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(p, t), c.e);
  const __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
  c.cdf = _mm512_mask_sub_ps(half_erfc, positive, _mm512_set1_ps(1.0f), half_erfc);
  return c;
}

MAE_AVX512 void forward_rows(const float* x, const float* bias, float* out, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* outr = out + r * cols;
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, xr + c), _mm512_maskz_loadu_ps(m, bias + c));
      _mm512_mask_storeu_ps(outr + c, m, _mm512_mul_ps(v, normal_cdf(v).cdf));
    }
  }
}

// gelu'(v) = Phi(v) + v e / sqrt(2 pi); the chunk's column sums are added into sums (zeroed).
MAE_AVX512 void backward_rows(const float* grad_out, const float* x, const float* bias, float* grad_x, float* sums,
                              int64_t r0, int64_t r1, int64_t cols) {
  const __m512 inv_sqrt_2pi = _mm512_set1_ps(0.39894228040143268f);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* gr = grad_out + r * cols;
    float* dr = grad_x + r * cols;
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, xr + c), _mm512_maskz_loadu_ps(m, bias + c));
      const Cdf cdf = normal_cdf(v);
      const __m512 slope = _mm512_fmadd_ps(_mm512_mul_ps(v, cdf.e), inv_sqrt_2pi, cdf.cdf);
      const __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gr + c), slope);
      _mm512_mask_storeu_ps(dr + c, m, d);
      _mm512_mask_storeu_ps(sums + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + c), d));
    }
  }
}

#endif

}  // namespace

void bias_gelu_forward(const float* x, const float* bias, float* out, int64_t rows, int64_t cols) {
  check_available("bias_gelu_forward");
#if MAE_KERNELS_X86
  at::parallel_for(0, rows, grain_rows(cols),
                   [&](int64_t r0, int64_t r1) { forward_rows(x, bias, out, r0, r1, cols); });
#endif
}

void bias_gelu_backward(const float* grad_out, const float* x, const float* bias, float* grad_x, float* grad_bias,
                        int64_t rows, int64_t cols) {
  check_available("bias_gelu_backward");
#if MAE_KERNELS_X86
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<float> partial(static_cast<size_t>(chunks * cols), 0.0f);
  at::parallel_for(0, chunks, std::max<int64_t>(1, grain_rows(cols) / kRowsPerChunk), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      backward_rows(grad_out, x, bias, grad_x, partial.data() + k * cols, k * kRowsPerChunk,
                    std::min(rows, (k + 1) * kRowsPerChunk), cols);
    }
  });
  std::fill(grad_bias, grad_bias + cols, 0.0f);
  for (int64_t k = 0; k < chunks; ++k) {
    const float* p = partial.data() + k * cols;
    for (int64_t c = 0; c < cols; ++c) grad_bias[c] += p[c];
  }
#endif
}

}  // namespace mae::kernels
