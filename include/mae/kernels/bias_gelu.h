// fc1's bias and the exact (erf) GELU in one pass, forward and backward, in fp32 where
// kernels::available(). ATen spends three passes over fc1's output on what is one here: addmm
// copies the bias into the output before its GEMM, gelu reads and writes it, and in backward
// gelu_backward and the bias gradient's column sum each read the gradient again. Threads: ATen's
// intra-op pool (at::parallel_for).
// Legend: M rows (tokens of the batch), H columns (fc1's width); all row-major and contiguous.
#pragma once

#include <cstdint>

#include "mae/kernels/available.h"

namespace mae::kernels {

// out[m, h] = gelu(x[m, h] + bias[h]) with x: [M, H] (fc1's output without its bias), bias: [H].
void bias_gelu_forward(const float* x, const float* bias, float* out, int64_t rows, int64_t cols);

// grad_x[m, h] = grad_out[m, h] * gelu'(x[m, h] + bias[h]) and grad_bias[h] = sum_m grad_x[m, h].
// grad_x may be grad_out (in place).
void bias_gelu_backward(const float* grad_out, const float* x, const float* bias, float* grad_x, float* grad_bias,
                        int64_t rows, int64_t cols);

}  // namespace mae::kernels
