// core::gemm_batch (MKL's ?gemm_batch over pointer lists) equals ATen's matmul for every
// transpose combination, with leading dimensions wider than the matrices, alpha and beta.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/gemm_batch.h"

using mae::testing::tensors_close;

namespace {

template <typename T>
void check_products(torch::Dtype dtype, double rtol, double atol) {
  const int64_t batch = 3, m = 5, n = 4, k = 6, pad = 3;
  for (const bool trans_a : {false, true}) {
    for (const bool trans_b : {false, true}) {
      SCOPED_TRACE(std::string("trans_a ") + (trans_a ? "T" : "N") + " trans_b " + (trans_b ? "T" : "N"));
      torch::manual_seed(7);
      const auto opts = torch::TensorOptions().dtype(dtype);
      // Stored as the row-major matrices the flags describe, inside buffers wider than they are.
      const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
      const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
      auto a = torch::randn({batch, a_rows, a_cols + pad}, opts);
      auto b = torch::randn({batch, b_rows, b_cols + pad}, opts);
      auto c = torch::randn({batch, m, n + pad}, opts);
      const auto c_before = c.clone();
      mae::core::GemmBatch<T> g;
      g.trans_a = trans_a, g.trans_b = trans_b, g.m = m, g.n = n, g.k = k, g.alpha = T(0.7), g.beta = T(0.5);
      g.lda = a_cols + pad, g.ldb = b_cols + pad, g.ldc = n + pad;
      for (int64_t i = 0; i < batch; ++i) {
        g.a.push_back(a[i].data_ptr<T>()), g.b.push_back(b[i].data_ptr<T>()), g.c.push_back(c[i].data_ptr<T>());
      }
      mae::core::gemm_batch(g);
      auto op_a = a.narrow(2, 0, a_cols), op_b = b.narrow(2, 0, b_cols);
      if (trans_a) op_a = op_a.transpose(1, 2);
      if (trans_b) op_b = op_b.transpose(1, 2);
      const auto expected = 0.7 * at::matmul(op_a, op_b) + 0.5 * c_before.narrow(2, 0, n);
      EXPECT_TRUE(tensors_close("C", c.narrow(2, 0, n), expected, rtol, atol));
      EXPECT_TRUE(torch::equal(c.narrow(2, n, pad), c_before.narrow(2, n, pad))) << "columns past n were written";
    }
  }
}

}  // namespace

TEST(GemmBatch, EqualsMatmulForEveryTransposeFloat64) {
  if (!mae::core::gemm_batch_available()) GTEST_SKIP() << "this PyTorch build exports no MKL ?gemm_batch";
  check_products<double>(torch::kFloat64, 1e-12, 1e-12);
}

TEST(GemmBatch, EqualsMatmulForEveryTransposeFloat32) {
  if (!mae::core::gemm_batch_available()) GTEST_SKIP() << "this PyTorch build exports no MKL ?gemm_batch";
  check_products<float>(torch::kFloat32, 1e-5, 1e-5);
}

TEST(GemmBatch, MismatchedPointerListsAreRefused) {
  if (!mae::core::gemm_batch_available()) GTEST_SKIP() << "this PyTorch build exports no MKL ?gemm_batch";
  float x = 0;
  mae::core::GemmBatch<float> g;
  g.m = g.n = g.k = g.lda = g.ldb = g.ldc = 1;
  g.a = {&x, &x}, g.b = {&x}, g.c = {&x};
  EXPECT_THROW(mae::core::gemm_batch(g), std::exception);
}
