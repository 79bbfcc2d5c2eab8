// Softmax over the rows of attention's score matrices, in place, forward and backward, in fp32
// where kernels::available(). ATen's softmax vectorises along a row and finishes each row's tail
// with scalar code, which for the short rows of small models (13-65 keys) is much of the row.
// Threads: ATen's intra-op pool (at::parallel_for).
// Legend: R rows, T columns (keys); row-major and contiguous.
#pragma once

#include <cstdint>

#include "mae/kernels/available.h"

namespace mae::kernels {

// x[r, :] = softmax(x[r, :]) for x: [R, T]. A row holding NaN becomes NaN.
void softmax_rows(float* x, int64_t rows, int64_t cols);

// grad[r, :] = y[r, :] * (grad[r, :] - sum_t grad[r, t] y[r, t]) for y = softmax's output [R, T]
// and grad: [R, T] the gradient of y on entry, of softmax's input on return.
void softmax_backward_rows(float* grad, const float* y, int64_t rows, int64_t cols);

}  // namespace mae::kernels
