// residual_linear (the residual seeding proj's and fc2's GEMM) equals residual + linear forward and
// backward, and the Block that uses it equals the block composed as timm writes it.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/models/block.h"
#include "mae/models/linear.h"
#include "mae/train/precision.h"

using mae::testing::tensors_close;

namespace {

struct Grads {
  torch::Tensor out, residual, x, weight, bias;
};

Grads run(torch::nn::Linear& layer, const torch::Tensor& residual, const torch::Tensor& x, const torch::Tensor& grad,
          bool fused) {
  layer->zero_grad();
  const auto r = residual.detach().requires_grad_(true), in = x.detach().requires_grad_(true);
  const auto out = fused ? mae::models::residual_linear(r, layer, in) : r + mae::models::linear(layer, in);
  out.backward(grad);
  return {out.detach(), r.grad(), in.grad(), layer->weight.grad().clone(), layer->bias.grad().clone()};
}

void compare(torch::Dtype dtype, double rtol, double atol) {
  torch::manual_seed(31);
  torch::nn::Linear layer(24, 16);
  layer->to(dtype);
  const auto opts = torch::TensorOptions().dtype(dtype);
  const auto residual = torch::randn({3, 7, 16}, opts), x = torch::randn({3, 7, 24}, opts), grad = torch::randn({3, 7, 16}, opts);
  const auto fused = run(layer, residual, x, grad, true), plain = run(layer, residual, x, grad, false);
  EXPECT_TRUE(tensors_close("output", fused.out, plain.out, rtol, atol));
  EXPECT_TRUE(tensors_close("grad residual", fused.residual, plain.residual, rtol, atol));
  EXPECT_TRUE(tensors_close("grad x", fused.x, plain.x, rtol, atol));
  EXPECT_TRUE(tensors_close("grad weight", fused.weight, plain.weight, rtol, atol));
  EXPECT_TRUE(tensors_close("grad bias", fused.bias, plain.bias, rtol, atol));
}

}  // namespace

TEST(ResidualLinear, EqualsResidualPlusLinearFloat64) { compare(torch::kFloat64, 1e-12, 1e-12); }

TEST(ResidualLinear, EqualsResidualPlusLinearFloat32) { compare(torch::kFloat32, 1e-5, 1e-5); }

// Under bf16 autocast the product is bf16 and the residual fp32: added as usual, in fp32.
TEST(ResidualLinear, UnderBf16AutocastAddsInFloat32) {
  torch::manual_seed(32);
  torch::nn::Linear layer(8, 8);
  const auto residual = torch::randn({2, 8}), x = torch::randn({2, 8});
  mae::train::AutocastGuard autocast(torch::Device(torch::kCPU), mae::train::Precision::kBf16);
  const auto out = mae::models::residual_linear(residual, layer, x);
  EXPECT_EQ(out.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(tensors_close("output", out, residual + mae::models::linear(layer, x), 0, 0));
}

// The block (no drop path: the residual rides in the GEMMs) against timm's composition.
TEST(ResidualLinear, BlockEqualsComposedBlock) {
  torch::manual_seed(33);
  mae::models::Block block(mae::models::BlockOptions{32, 4, 4.0, true, 0.0, 1e-6, true});
  const auto x = torch::randn({2, 17, 32}), grad = torch::randn({2, 17, 32});
  auto run_block = [&](bool composed) {
    block->zero_grad();
    const auto in = x.detach().requires_grad_(true);
    torch::Tensor out;
    if (composed) {
      const auto y = in + block->attn->forward(block->norm1->forward(in));
      out = y + block->mlp->forward(block->norm2->forward(y));
    } else {
      out = block->forward(in);
    }
    out.backward(grad);
    std::vector<torch::Tensor> grads{out.detach(), in.grad()};
    for (const auto& p : block->parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  const auto fused = run_block(false), composed = run_block(true);
  ASSERT_EQ(fused.size(), composed.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    EXPECT_TRUE(tensors_close(i == 0 ? "output" : "grad " + std::to_string(i), fused[i], composed[i], 1e-5, 1e-5));
  }
}
