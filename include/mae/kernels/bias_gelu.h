// fc1's bias and the exact (erf) GELU in one pass, forward and backward, for fp32 on x86 CPUs with
// AVX-512. ATen spends three passes over fc1's output on what is one here: addmm copies the bias
// into the output before its GEMM, gelu reads and writes it, and in backward gelu_backward and the
// bias gradient's column sum each read the gradient again. Threads: ATen's intra-op pool
// (at::parallel_for; this file's translation unit is built with OpenMP against the same runtime as
// LibTorch, see src/CMakeLists.txt).
// Legend: M rows (tokens of the batch), H columns (fc1's width); all row-major and contiguous.
#pragma once

#include <cstdint>

namespace mae::kernels {

// True where these kernels run fast enough to replace ATen's: an AVX-512 CPU, and threads shared
// with ATen (or a single intra-op thread). Callers use ATen's ops otherwise.
bool bias_gelu_available();

// out[m, h] = gelu(x[m, h] + bias[h]) with x: [M, H] (fc1's output without its bias), bias: [H].
void bias_gelu_forward(const float* x, const float* bias, float* out, int64_t rows, int64_t cols);

// grad_x[m, h] = grad_out[m, h] * gelu'(x[m, h] + bias[h]) and grad_bias[h] = sum_m grad_x[m, h].
// grad_x may be grad_out (in place).
void bias_gelu_backward(const float* grad_out, const float* x, const float* bias, float* grad_x, float* grad_bias,
                        int64_t rows, int64_t cols);

}  // namespace mae::kernels
