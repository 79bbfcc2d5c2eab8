#include "mae/kernels/softmax.h"

#include <limits>

#include <ATen/Parallel.h>

#include "common.h"

namespace mae::kernels {
namespace {

#if MAE_KERNELS_X86
using namespace avx512;

MAE_AVX512 void forward_rows(float* x, int64_t r0, int64_t r1, int64_t cols) {
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 floor = _mm512_set1_ps(-87.0f);  // e^-87 is still a normal float: no denormal assists
  for (int64_t r = r0; r < r1; ++r) {
    float* row = x + r * cols;
    __m512 max = lowest;
    for (int64_t c = 0; c < cols; c += 16) {
      // max_ps returns its second operand when one is NaN: the row's NaN reaches the maximum.
      max = _mm512_max_ps(max, _mm512_mask_loadu_ps(lowest, tail_mask(cols - c), row + c));
    }
    const __m512 row_max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      const __m512 y = _mm512_max_ps(floor, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c), row_max));
      const __m512 e = exp_nonpositive(y);
      sum = _mm512_mask_add_ps(sum, m, sum, e);
      _mm512_mask_storeu_ps(row + c, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      _mm512_mask_storeu_ps(row + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + c), inv));
    }
  }
}

MAE_AVX512 void backward_rows(float* grad, const float* y, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    float* g = grad + r * cols;
    const float* p = y + r * cols;
    __m512 dot = _mm512_setzero_ps();
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + c), _mm512_maskz_loadu_ps(m, p + c), dot);
    }
    const __m512 row_dot = _mm512_set1_ps(_mm512_reduce_add_ps(dot));
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, g + c), row_dot);
      _mm512_mask_storeu_ps(g + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + c), d));
    }
  }
}
#endif

}  // namespace

void softmax_rows(float* x, int64_t rows, int64_t cols) {
  check_available("softmax_rows");
#if MAE_KERNELS_X86
  at::parallel_for(0, rows, grain_rows(cols), [&](int64_t r0, int64_t r1) { forward_rows(x, r0, r1, cols); });
#endif
}

void softmax_backward_rows(float* grad, const float* y, int64_t rows, int64_t cols) {
  check_available("softmax_backward_rows");
#if MAE_KERNELS_X86
  at::parallel_for(0, rows, grain_rows(cols), [&](int64_t r0, int64_t r1) { backward_rows(grad, y, r0, r1, cols); });
#endif
}

}  // namespace mae::kernels
