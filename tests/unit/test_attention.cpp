// The fused attention path (scaled_dot_product_attention) equals the plain one, forward and
// backward, in float64 and float32.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/models/attention.h"
#include "mae/models/block.h"

using namespace mae::models;
using mae::testing::tensors_close;

static void compare_paths(torch::Dtype dtype, double rtol, double atol) {
  torch::manual_seed(3);
  Attention attn(32, 4);
  attn->to(dtype);
  auto x = torch::randn({3, 17, 32}, torch::TensorOptions().dtype(dtype)).requires_grad_(true);
  auto grad_out = torch::randn({3, 17, 32}, torch::TensorOptions().dtype(dtype));

  auto plain = attn->forward_plain(x);
  plain.backward(grad_out);
  auto gx_plain = x.grad().clone();
  auto gw_plain = attn->qkv->weight.grad().clone();
  x.mutable_grad().zero_();
  attn->zero_grad();

  auto fused = attn->forward_fused(x);
  fused.backward(grad_out);
  EXPECT_TRUE(tensors_close("output", fused, plain, rtol, atol));
  EXPECT_TRUE(tensors_close("grad x", x.grad(), gx_plain, rtol, atol));
  EXPECT_TRUE(tensors_close("grad qkv.weight", attn->qkv->weight.grad(), gw_plain, rtol, atol));
}

TEST(Attention, FusedEqualsPlainFloat64) {
  compare_paths(torch::kFloat64, 1e-10, 1e-12);
}

TEST(Attention, FusedEqualsPlainFloat32) {
  compare_paths(torch::kFloat32, 1e-4, 1e-5);
}

TEST(Attention, SetFusedSwitchesEveryBlock) {
  Block block(BlockOptions{16, 2, 4.0, true, 0.0, 1e-6, true});
  set_fused_attention(*block, false);
  EXPECT_FALSE(block->attn->fused());
  set_fused_attention(*block, true);
  EXPECT_TRUE(block->attn->fused());
}

TEST(DropPath, IdentityInEvalAndScalesSurvivorsInTraining) {
  auto x = torch::ones({1000, 4});
  EXPECT_TRUE(torch::equal(drop_path(x, 0.3, /*training=*/false), x));
  torch::manual_seed(0);
  auto y = drop_path(x, 0.25, true);
  auto kept = (y.select(1, 0) != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.75, 0.05);
  EXPECT_NEAR(y.max().item<double>(), 1.0 / 0.75, 1e-6);
  // A whole sample is dropped or kept, never part of it.
  EXPECT_TRUE(torch::equal(std::get<0>(y.min(1)), std::get<0>(y.max(1))));
}
