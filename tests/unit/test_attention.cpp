// The fast attention paths (scaled_dot_product_attention; the explicit one-node kernel) equal the
// plain one, forward and backward, in float64 and float32 (and bf16 autocast within its precision),
// and forward() takes the path its rule names.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/gemm_batch.h"
#include "mae/kernels/available.h"
#include "mae/models/attention.h"
#include "mae/models/block.h"
#include "mae/models/explicit_attention.h"
#include "mae/train/precision.h"

using namespace mae::models;
using mae::testing::tensors_close;

using Path = torch::Tensor (AttentionImpl::*)(const torch::Tensor&);

static void compare_paths(torch::Dtype dtype, double rtol, double atol, Path path = &AttentionImpl::forward_fused) {
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

  auto fused = ((*attn).*path)(x);
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

// Both explicit kernels: in place through MKL's batched GEMM (where the process has it) and the
// head-major copies through ATen's bmm; each call is counted, so a test cannot pass on the other one.
static void compare_explicit(torch::Dtype dtype, double rtol, double atol) {
  for (const bool in_place : {true, false}) {
    SCOPED_TRACE(in_place ? "in place" : "head-major copies");
    if (in_place && !mae::core::gemm_batch_available()) {
#if defined(__x86_64__)  // every x86 PyTorch wheel carries MKL: its absence there is a fault
      ADD_FAILURE() << "this PyTorch build exports no MKL ?gemm_batch: the in-place path is not tested";
#endif
      continue;
    }
    set_explicit_attention_in_place(in_place);
    const int64_t calls = explicit_attention_calls(), in_place_calls = explicit_attention_in_place_calls();
    compare_paths(dtype, rtol, atol, &AttentionImpl::forward_explicit);
    set_explicit_attention_in_place(true);
    EXPECT_EQ(explicit_attention_calls(), calls + 1);
    EXPECT_EQ(explicit_attention_in_place_calls(), in_place_calls + (in_place ? 1 : 0));
  }
}

TEST(Attention, ExplicitEqualsPlainFloat64) {
  compare_explicit(torch::kFloat64, 1e-10, 1e-12);
}

TEST(Attention, ExplicitEqualsPlainFloat32) {
  compare_explicit(torch::kFloat32, 1e-4, 1e-5);
}

TEST(Attention, ExplicitTracksPlainUnderBf16Autocast) {
  torch::manual_seed(5);
  Attention attn(64, 4);
  auto x = torch::randn({4, 13, 64}).requires_grad_(true);
  auto grad_out = torch::randn({4, 13, 64});
  std::vector<torch::Tensor> outs, grads;
  for (const Path path : {&AttentionImpl::forward_plain, &AttentionImpl::forward_explicit}) {
    torch::Tensor y;
    {
      mae::train::AutocastGuard autocast(torch::Device(torch::kCPU), mae::train::Precision::kBf16);
      y = ((*attn).*path)(x);
    }
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    y.backward(grad_out.to(y.scalar_type()));
    outs.push_back(y.to(torch::kFloat32));
    grads.push_back(attn->qkv->weight.grad().clone());
    x.mutable_grad().reset();
    attn->zero_grad(true);
  }
  // Both round to bf16 at different points: agree to bf16's 8 bits.
  EXPECT_TRUE(tensors_close("output", outs[1], outs[0], 3e-2, 3e-2));
  EXPECT_TRUE(tensors_close("grad qkv.weight", grads[1], grads[0], 3e-2, 5e-2));
}

TEST(Attention, ForwardTakesTheMeasuredPathOnCpu) {
  Attention attn(64, 4);  // d = 16
  const auto opts = torch::TensorOptions();
  // Short sequences: explicit with our softmax kernel, the flash kernel with ATen's softmax.
  const bool kernel = mae::kernels::available();
  EXPECT_EQ(attn->cpu_path(torch::randn({2, 13, 64}, opts)), kernel ? AttentionPath::kExplicit : AttentionPath::kSdpa);
  EXPECT_EQ(Attention(128, 4)->cpu_path(torch::randn({2, 257, 128}, opts)),  // d = 32
            kernel ? AttentionPath::kExplicit : AttentionPath::kSdpa);
  EXPECT_EQ(attn->cpu_path(torch::randn({2, 50, 64}, opts)), AttentionPath::kExplicit);
  EXPECT_EQ(attn->cpu_path(torch::randn({2, 197, 64}, opts)), AttentionPath::kExplicit);
  EXPECT_EQ(attn->cpu_path(torch::randn({2, 257, 64}, opts)), AttentionPath::kSdpa);
  EXPECT_EQ(Attention(256, 4)->cpu_path(torch::randn({2, 13, 256}, opts)), AttentionPath::kExplicit);  // d = 64
  {
    mae::train::AutocastGuard autocast(torch::Device(torch::kCPU), mae::train::Precision::kBf16);
    EXPECT_EQ(attn->cpu_path(torch::randn({2, 13, 64}, opts)), AttentionPath::kExplicit);
  }
  const int64_t calls = explicit_attention_calls();
  attn->forward(torch::randn({2, 50, 64}, opts));
  EXPECT_EQ(explicit_attention_calls(), calls + 1);
  attn->set_fused(false);  // the reference path, whatever the rule says
  attn->forward(torch::randn({2, 50, 64}, opts));
  EXPECT_EQ(explicit_attention_calls(), calls + 1);
  set_attention_path(*attn, AttentionPath::kExplicit);  // forced, where the rule would take SDPA
  attn->forward(torch::randn({2, 257, 64}, opts));
  EXPECT_EQ(explicit_attention_calls(), calls + 2);
  EXPECT_TRUE(attn->fused());
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
