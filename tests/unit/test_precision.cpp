// train::AutocastGuard turns bf16 autocast on for the CPU while it lives: a Block's attention and
// MLP come out in bf16 (close to their fp32 values), the residual stream stays fp32, and the
// previous state is back afterwards. A disabled guard changes nothing.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/models/block.h"
#include "mae/tasks/precision_choice.h"
#include "mae/train/precision.h"

using namespace mae;
using mae::testing::tensors_close;

namespace {

models::Block tiny_block() {
  models::BlockOptions o;
  o.dim = 32;
  o.num_heads = 4;
  torch::manual_seed(0);
  return models::Block(o);
}

}  // namespace

TEST(AutocastGuard, Bf16OnCpuLowersAttentionAndMlp) {
  auto block = tiny_block();
  const auto x = torch::randn({2, 9, 32});  // [N, T, D]
  const auto attn_fp32 = block->attn->forward(block->norm1->forward(x));
  const auto mlp_fp32 = block->mlp->forward(block->norm2->forward(x));
  torch::Tensor attn_bf16, mlp_bf16, out;
  {
    train::AutocastGuard autocast(torch::kCPU, train::Precision::kBf16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(torch::kCPU));
    attn_bf16 = block->attn->forward(block->norm1->forward(x));
    mlp_bf16 = block->mlp->forward(block->norm2->forward(x));
    out = block->forward(x);
  }
  EXPECT_EQ(attn_bf16.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(mlp_bf16.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(out.scalar_type(), torch::kFloat32);  // x + a bf16 branch promotes to fp32
  // bf16 keeps 8 bits of mantissa: a few per cent, not float precision.
  EXPECT_TRUE(tensors_close("attention under autocast", attn_bf16, attn_fp32, 0.05, 0.02));
  EXPECT_TRUE(tensors_close("mlp under autocast", mlp_bf16, mlp_fp32, 0.05, 0.02));
  EXPECT_FALSE(torch::equal(attn_bf16.to(torch::kFloat32), attn_fp32));

  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  EXPECT_EQ(block->attn->forward(x).scalar_type(), torch::kFloat32);
}

TEST(AutocastGuard, DisabledGuardKeepsFp32) {
  auto block = tiny_block();
  train::AutocastGuard autocast(torch::kCPU, train::Precision::kFp32);
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  EXPECT_EQ(block->mlp->forward(torch::randn({2, 9, 32})).scalar_type(), torch::kFloat32);
}

TEST(AutocastGuard, Fp16OnCpuLowersTheMlp) {
  auto block = tiny_block();
  const auto x = torch::randn({2, 9, 32});  // [N, T, D]
  const auto mlp_fp32 = block->mlp->forward(x);
  torch::Tensor mlp_fp16;
  {
    train::AutocastGuard autocast(torch::kCPU, train::Precision::kFp16);
    mlp_fp16 = block->mlp->forward(x);
  }
  EXPECT_EQ(mlp_fp16.scalar_type(), torch::kHalf);
  // fp16 keeps 11 bits of mantissa.
  EXPECT_TRUE(tensors_close("mlp under fp16 autocast", mlp_fp16, mlp_fp32, 0.01, 0.005));
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), torch::kBFloat16) << "the previous autocast dtype is restored";
}

TEST(AutocastGuard, PrecisionNames) {
  for (const char* name : {"auto", "fp32", "bf16", "fp16"}) {
    EXPECT_STREQ(train::precision_name(core::parse_choice(train::kPrecisionNames, name, "train.precision")), name);
  }
  EXPECT_THROW(core::parse_choice(train::kPrecisionNames, "fp8", "train.precision"), UsageError);
  EXPECT_THROW(core::parse_choice(train::kPrecisionNames, "half", "train.precision"), UsageError);
  EXPECT_THROW(train::check_settled(train::Precision::kAuto), Error);  // must be settled before the trainer sees it
  EXPECT_THROW(train::AutocastGuard(torch::kCPU, train::Precision::kAuto), Error);
}

namespace {

// A task with a BatchNorm (whose statistics the probe must not move) and dropout (which draws from
// LibTorch's generator).
struct ProbeTask : train::Task {
  torch::nn::Sequential net{torch::nn::Flatten(), torch::nn::Linear(48, 16), torch::nn::BatchNorm1d(16),
                            torch::nn::Dropout(0.5), torch::nn::Linear(16, 3)};
  torch::nn::Module& model() override { return *net; }
  torch::Tensor loss(const data::Batch& batch, int64_t, train::Scalars*) override {
    return net->forward(batch.images).to(torch::kFloat32).pow(2).mean();
  }
  std::vector<optim::ParamGroup> param_groups(double) override { return {}; }
  std::map<std::string, std::string> checkpoint_metadata() override { return {}; }
};

}  // namespace

TEST(PrecisionChoice, AutoMeasuresBothWaysAndLeavesTheModelAsItWas) {
  ProbeTask task;
  EXPECT_EQ(tasks::choose_precision(train::Precision::kBf16, task, 8, 3, 4, 4, torch::kCPU).precision, train::Precision::kBf16);
  EXPECT_EQ(tasks::choose_precision(train::Precision::kFp32, task, 8, 3, 4, 4, torch::kCPU).precision, train::Precision::kFp32);
  std::string why;
  if (!train::bf16_hardware(torch::kCPU, &why)) {
    const auto choice = tasks::choose_precision(train::Precision::kAuto, task, 8, 3, 4, 4, torch::kCPU);
    EXPECT_EQ(choice.precision, train::Precision::kFp32);
    EXPECT_TRUE(choice.measured_auto);
    EXPECT_EQ(choice.fp32_seconds, 0);  // nothing measured
    GTEST_SKIP() << why << ": the probe itself is not run here";
  }
  torch::manual_seed(3);
  const auto before = task.net->parameters()[0].detach().clone();
  const auto running_mean = task.net[2]->as<torch::nn::BatchNorm1d>()->running_mean.clone();
  const auto next_draw = torch::rand({4});
  torch::manual_seed(3);
  const auto choice = tasks::choose_precision(train::Precision::kAuto, task, 8, 3, 4, 4, torch::kCPU);
  EXPECT_TRUE(choice.precision == train::Precision::kFp32 || choice.precision == train::Precision::kBf16);
  EXPECT_GT(choice.fp32_seconds, 0);  // both ways were timed
  EXPECT_GT(choice.bf16_seconds, 0);
  EXPECT_NE(choice.reason.find("s in bf16"), std::string::npos) << choice.reason;
  EXPECT_TRUE(torch::equal(task.net->parameters()[0], before));
  EXPECT_FALSE(task.net->parameters()[0].grad().defined());
  EXPECT_TRUE(torch::equal(task.net[2]->as<torch::nn::BatchNorm1d>()->running_mean, running_mean));
  EXPECT_TRUE(torch::equal(torch::rand({4}), next_draw));  // the generator is where it was
}
