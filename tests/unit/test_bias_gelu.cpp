// The fused fc1 bias + GELU (kernels/bias_gelu.h) against ATen's gelu in float64, its column sums
// independent of the thread count, and the Mlp's fused path equal to ATen's ops forward and backward.
#include <gtest/gtest.h>

#include <limits>

#include "common/tensor_compare.h"
#include "mae/kernels/bias_gelu.h"
#include "mae/models/mlp.h"

using mae::testing::tensors_close;

namespace {

#define SKIP_WITHOUT_KERNEL()                                                                        \
  if (!mae::kernels::available()) GTEST_SKIP() << "no AVX-512 (or no OpenMP with " \
                                                         << at::get_num_threads() << " threads): ATen's ops run instead"

struct Result {
  torch::Tensor out, grad_x, grad_bias;
};

// x: [M, H], bias: [H], grad_out: [M, H], all float32
Result run_kernels(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& grad_out) {
  Result r{torch::empty_like(x), torch::empty_like(x), torch::empty_like(bias)};
  mae::kernels::bias_gelu_forward(x.data_ptr<float>(), bias.data_ptr<float>(), r.out.data_ptr<float>(), x.size(0), x.size(1));
  mae::kernels::bias_gelu_backward(grad_out.data_ptr<float>(), x.data_ptr<float>(), bias.data_ptr<float>(),
                                   r.grad_x.data_ptr<float>(), r.grad_bias.data_ptr<float>(), x.size(0), x.size(1));
  return r;
}

}  // namespace

// Widths with and without a partial 16-lane tail, rows across several 256-row chunks.
TEST(BiasGelu, EqualsAtenGeluInFloat64) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(11);
  for (const int64_t cols : {768, 37, 5}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    const auto x = torch::randn({600, cols}) * 3, bias = torch::randn({cols}), grad_out = torch::randn({600, cols});
    const auto r = run_kernels(x, bias, grad_out);
    const auto v = (x + bias).to(torch::kFloat64).requires_grad_(true);
    const auto expected = torch::gelu(v);
    expected.backward(grad_out.to(torch::kFloat64));
    EXPECT_TRUE(tensors_close("gelu(x + b)", r.out, expected, 1e-6, 1e-6));
    EXPECT_TRUE(tensors_close("grad x", r.grad_x, v.grad(), 1e-6, 1e-6));
    EXPECT_TRUE(tensors_close("grad bias", r.grad_bias, v.grad().sum(0), 1e-5, 1e-4));
  }
}

TEST(BiasGelu, TailsAndNonFiniteValues) {
  SKIP_WITHOUT_KERNEL();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const auto x = torch::tensor({-1e4f, -100.0f, -12.0f, -6.0f, -1e-30f, 0.0f, 1e-30f, 6.0f, 12.0f, 100.0f, 1e4f, inf, nan})
                     .unsqueeze(0);
  const auto bias = torch::zeros({x.size(1)}), grad_out = torch::ones_like(x);
  const auto r = run_kernels(x, bias, grad_out);
  const auto finite = torch::arange(0, 11);  // the first 11 values are finite
  const auto v = x.index_select(1, finite).to(torch::kFloat64).requires_grad_(true);
  const auto expected = torch::gelu(v);
  expected.backward(torch::ones_like(v));
  EXPECT_TRUE(tensors_close("gelu", r.out.index_select(1, finite), expected, 1e-6, 1e-6));
  EXPECT_TRUE(tensors_close("gelu'", r.grad_x.index_select(1, finite), v.grad(), 1e-6, 1e-6));
  EXPECT_EQ(r.out[0][11].item<float>(), inf);
  EXPECT_TRUE(std::isnan(r.out[0][12].item<float>()));
  EXPECT_TRUE(std::isnan(r.grad_x[0][12].item<float>()));
}

// The bias gradient sums fixed chunks of rows in a fixed order: the same bits on 1 and 2 threads.
TEST(BiasGelu, BiasGradientDoesNotDependOnThreads) {
  torch::manual_seed(12);
  const auto x = torch::randn({1000, 96}), bias = torch::randn({96}), grad_out = torch::randn({1000, 96});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  if (!mae::kernels::available()) {
    at::set_num_threads(threads);
    GTEST_SKIP() << "no AVX-512: ATen's ops run instead";
  }
  const auto one = run_kernels(x, bias, grad_out);
  at::set_num_threads(2);
  if (!mae::kernels::available()) {  // a build without OpenMP: the kernels run on one thread only
    at::set_num_threads(threads);
    GTEST_SKIP() << "the kernels are not available with 2 threads in this build";
  }
  const auto two = run_kernels(x, bias, grad_out);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.grad_bias, two.grad_bias));
  EXPECT_TRUE(torch::equal(one.grad_x, two.grad_x));
  EXPECT_TRUE(torch::equal(one.out, two.out));
}

// The Mlp with the fused node equals the Mlp with ATen's addmm + gelu: output and every gradient.
TEST(BiasGelu, MlpFusedEqualsAten) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(13);
  mae::models::Mlp mlp(24, 96);
  const auto x = torch::randn({3, 17, 24}).requires_grad_(true);
  const auto grad_out = torch::randn({3, 17, 24});
  struct Grads {
    torch::Tensor out, x, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  auto run = [&](bool fused) {
    mae::models::set_mlp_fused_bias_gelu(fused);
    const int64_t calls = mae::models::mlp_fused_bias_gelu_calls();
    mlp->zero_grad();
    x.mutable_grad() = torch::Tensor();
    const auto out = mlp->forward(x);
    out.backward(grad_out);
    mae::models::set_mlp_fused_bias_gelu(true);
    EXPECT_EQ(mae::models::mlp_fused_bias_gelu_calls(), calls + (fused ? 1 : 0));
    return Grads{out.detach(), x.grad().clone(), mlp->fc1->weight.grad().clone(), mlp->fc1->bias.grad().clone(),
                 mlp->fc2->weight.grad().clone(), mlp->fc2->bias.grad().clone()};
  };
  const auto fused = run(true), aten = run(false);
  EXPECT_TRUE(tensors_close("output", fused.out, aten.out, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("grad x", fused.x, aten.x, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("grad fc1.weight", fused.fc1_w, aten.fc1_w, 1e-5, 1e-5));
  EXPECT_TRUE(tensors_close("grad fc1.bias", fused.fc1_b, aten.fc1_b, 1e-5, 1e-5));
  EXPECT_TRUE(tensors_close("grad fc2.weight", fused.fc2_w, aten.fc2_w, 1e-5, 1e-5));
  EXPECT_TRUE(tensors_close("grad fc2.bias", fused.fc2_b, aten.fc2_b, 1e-5, 1e-5));
}

// Where the fused node does not apply (float64 here; bf16 autocast and CUDA likewise), ATen's ops run.
TEST(BiasGelu, MlpInFloat64UsesAten) {
  mae::models::Mlp mlp(8, 16);
  mlp->to(torch::kFloat64);
  const int64_t calls = mae::models::mlp_fused_bias_gelu_calls();
  const auto x = torch::randn({2, 5, 8}, torch::kFloat64);
  const auto expected = torch::linear(torch::gelu(torch::linear(x, mlp->fc1->weight, mlp->fc1->bias)),
                                      mlp->fc2->weight, mlp->fc2->bias);
  EXPECT_TRUE(tensors_close("output", mlp->forward(x), expected, 1e-12, 1e-12));
  EXPECT_EQ(mae::models::mlp_fused_bias_gelu_calls(), calls);
}

// The same input gives the same bits on every call (the visualiser's masks reproduce its losses).
TEST(BiasGelu, MlpIsDeterministic) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(14);
  mae::models::Mlp mlp(16, 64);
  for (const int64_t rows : {15, 3000}) {
    const auto x = torch::randn({rows, 16});
    torch::NoGradGuard no_grad;
    const auto a = mlp->forward(x), b = mlp->forward(x);
    EXPECT_TRUE(torch::equal(a, b)) << rows << " rows: max |diff| " << (a - b).abs().max().item<float>();
  }
}

// An empty batch passes through the fused node forward and backward.
TEST(BiasGelu, MlpOnAnEmptyBatch) {
  SKIP_WITHOUT_KERNEL();
  mae::models::Mlp mlp(16, 64);
  const int64_t calls = mae::models::mlp_fused_bias_gelu_calls();
  const auto x = torch::randn({0, 5, 16}).requires_grad_(true);
  const auto out = mlp->forward(x);
  EXPECT_EQ(out.sizes(), x.sizes());
  out.sum().backward();
  EXPECT_EQ(mae::models::mlp_fused_bias_gelu_calls(), calls + 1);
  EXPECT_TRUE(mlp->fc1->bias.grad().eq(0).all().item<bool>());
}
