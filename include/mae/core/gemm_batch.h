// Row-major batched GEMM over a list of pointers: C_i = alpha * op(A_i) op(B_i) + beta * C_i, all
// matrices of one call sharing sizes and leading dimensions but not a batch stride. It goes to
// MKL's ?gemm_batch, which the PyTorch wheels for x86 export from libtorch_cpu; ATen's bmm instead
// wants one stride between matrices, so matrices laid out by two indices (attention's batch and
// head, read in place from the qkv projection's output) would first need a copy.
// Legend: m x k times k x n; ld* = elements between rows.
#pragma once

#include <cstdint>
#include <vector>

namespace mae::core {

template <typename T>
struct GemmBatch {
  bool trans_a = false, trans_b = false;  // op(X) = X^T: X is stored k x m (A) or n x k (B)
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  T alpha = 1, beta = 0;
  std::vector<const T*> a, b;
  std::vector<T*> c;
};

// Whether ?gemm_batch was found in the process (float and double are found together).
bool gemm_batch_available();

// Runs every product of the batch, on the intra-op threads; throws if !gemm_batch_available().
template <typename T>
void gemm_batch(const GemmBatch<T>& batch);

}  // namespace mae::core
