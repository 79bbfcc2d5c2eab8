// The row softmax kernel (kernels/softmax.h) against ATen's softmax in float64, forward and
// backward, for the row lengths of attention (a partial 16-lane tail or none), wide score ranges
// and rows holding NaN.
#include <gtest/gtest.h>

#include <limits>

#include "common/tensor_compare.h"
#include "mae/kernels/softmax.h"

using mae::testing::tensors_close;

TEST(SoftmaxKernel, EqualsAtenInFloat64) {
  if (!mae::kernels::available()) GTEST_SKIP() << "no AVX-512: attention uses ATen's softmax";
  torch::manual_seed(21);
  for (const int64_t cols : {1, 5, 13, 16, 17, 50, 65, 197}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    // Scores spread over +-60: probabilities down to e^-120 (below the kernel's e^-87 floor: 0 either way).
    const auto scores = torch::randn({700, cols}) * 20;
    const auto grad = torch::randn({700, cols});
    auto y = scores.clone();
    mae::kernels::softmax_rows(y.data_ptr<float>(), y.size(0), cols);
    const auto s64 = scores.to(torch::kFloat64).requires_grad_(true);
    const auto expected = torch::softmax(s64, -1);
    expected.backward(grad.to(torch::kFloat64));
    EXPECT_TRUE(tensors_close("softmax", y, expected, 1e-6, 1e-7));
    auto g = grad.clone();
    mae::kernels::softmax_backward_rows(g.data_ptr<float>(), y.data_ptr<float>(), y.size(0), cols);
    EXPECT_TRUE(tensors_close("softmax backward", g, s64.grad(), 1e-5, 1e-6));
  }
}

TEST(SoftmaxKernel, RowWithNaNBecomesNaNOthersStay) {
  if (!mae::kernels::available()) GTEST_SKIP() << "no AVX-512: attention uses ATen's softmax";
  auto x = torch::randn({3, 20});
  x[1][17] = std::numeric_limits<float>::quiet_NaN();
  const auto expected = torch::softmax(x, -1);
  mae::kernels::softmax_rows(x.data_ptr<float>(), 3, 20);
  EXPECT_TRUE(x[1].isnan().all().item<bool>());
  EXPECT_TRUE(tensors_close("row 0", x[0], expected[0], 1e-6, 1e-7));
  EXPECT_TRUE(tensors_close("row 2", x[2], expected[2], 1e-6, 1e-7));
}
