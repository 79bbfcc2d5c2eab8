// Pieces shared by the kernels of this folder (private to it): how rows are split among threads,
// and AVX-512 helpers. Every AVX-512 function carries the avx512f target itself, so no file needs
// -mavx512f, and callers check kernels::available() first.
#pragma once

#include <algorithm>
#include <cstdint>

#include "mae/core/error.h"
#include "mae/kernels/available.h"

namespace mae::kernels {

// Callers choose ATen's op where available() is false; reaching a kernel anyway is a bug.
inline void check_available(const char* kernel) {
  MAE_CHECK(available(), kernel, " needs an x86 CPU with AVX-512 (and LibTorch's OpenMP runtime for more than one "
            "thread); the caller should have used ATen's op (see kernels::available())");
}

// Rows per at::parallel_for task: about 16K elements, below which ATen's pool is not worth waking.
inline int64_t grain_rows(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace mae::kernels

#if defined(__x86_64__)
#define MAE_KERNELS_X86 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own avx512fintrin.h for masked loads (the undefined pass-through operand).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#define MAE_AVX512 __attribute__((target("avx512f")))

namespace mae::kernels::avx512 {

// Lanes [0, left) of a 16-lane vector: the tail of a row.
MAE_AVX512 inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// exp(y) for -87 <= y <= 0 (callers clamp): y = n ln2 + r with |r| <= ln2/2, e^r by a degree-5
// polynomial fitted for relative error (2.1e-7 in fp32 arithmetic), times 2^n by vscalefps.
MAE_AVX512 inline __m512 exp_nonpositive(__m512 y) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945309f), y);
  __m512 p = _mm512_set1_ps(8.297642693e-03f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.191537946e-02f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666757464e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.999889433e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.999997020e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.000000119e+00f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace mae::kernels::avx512
#endif
