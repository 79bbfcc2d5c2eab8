// The CUDA paths against their CPU or plain twins: fused attention (flash / memory-efficient via
// scaled_dot_product_attention) vs explicit matmuls, the fused AdamW kernel vs LibTorch's loop,
// a bf16-autocast MAE step vs fp32, activation checkpointing (CUDA generator replay), and the
// NCCL backend in a one-process job. Every test skips without a CUDA device.
#include <filesystem>

#include <gtest/gtest.h>

#include "common/named_grads.h"
#include "common/run_command.h"
#include "common/synthetic_idx.h"
#include "common/tensor_compare.h"
#include "mae/models/block.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/optim/fused_adamw.h"
#include "mae/optim/param_groups.h"
#include "mae/train/loss_scaler.h"
#include "mae/train/precision.h"

using namespace mae;
using mae::testing::tensors_close;

#define REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

namespace {

models::MaeViTOptions small_mae(bool fused) {
  models::MaeViTOptions o;
  o.img_h = o.img_w = 32;
  o.patch_size = 4;
  o.embed_dim = 64;
  o.depth = 2;
  o.num_heads = 4;
  o.decoder_embed_dim = 32;
  o.decoder_depth = 1;
  o.decoder_num_heads = 4;
  o.norm_pix_loss = true;
  o.fused_attn = fused;
  return o;
}

// Loss and gradients of one MAE step on CUDA with fixed data and masking.
// fp16 scales the loss by 2^16 before backward and unscales the gradients, as the Trainer does.
std::pair<double, std::map<std::string, torch::Tensor>> cuda_step(bool fused, train::Precision precision, bool checkpointing) {
  torch::manual_seed(5);
  models::MaskedAutoencoderViT model(small_mae(fused));
  model->to(torch::kCUDA);
  models::set_grad_checkpointing(*model, checkpointing);
  const auto imgs = torch::randn({8, 3, 32, 32}).to(torch::kCUDA);
  const auto noise = torch::rand({8, 64}).to(torch::kCUDA);
  torch::Tensor loss;
  {
    train::AutocastGuard autocast(torch::kCUDA, precision);
    loss = model->forward(imgs, 0.75, noise).loss;
  }
  const train::LossScaleState scale;
  if (precision == train::Precision::kFp16) {
    train::LossScaler::scale_loss(loss, scale).backward();
    train::LossScaler::unscale(model->parameters(), scale);
  } else {
    loss.backward();
  }
  return {loss.item<double>(), mae::testing::named_grads(*model)};
}

void expect_close(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b, double rtol,
                  double atol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, g] : a) EXPECT_TRUE(tensors_close(name, b.at(name), g, rtol, atol));
}

}  // namespace

TEST(Gpu, FusedAttentionMatchesExplicitOnCuda) {
  REQUIRE_CUDA();
  const auto [plain_loss, plain] = cuda_step(false, train::Precision::kFp32, false);
  const auto [fused_loss, fused] = cuda_step(true, train::Precision::kFp32, false);
  EXPECT_NEAR(fused_loss, plain_loss, 1e-5 * std::abs(plain_loss));
  expect_close(plain, fused, 1e-3, 1e-5);  // TF32 may be on for the plain matmuls
}

TEST(Gpu, Bf16AutocastStepTracksFp32) {
  REQUIRE_CUDA();
  const auto [fp32_loss, fp32] = cuda_step(true, train::Precision::kFp32, false);
  const auto [bf16_loss, bf16] = cuda_step(true, train::Precision::kBf16, false);
  EXPECT_NEAR(bf16_loss, fp32_loss, 0.02 * std::abs(fp32_loss));
  double worst = 0;
  for (const auto& [name, g] : fp32) {
    const double rel = (bf16.at(name) - g).norm().item<double>() / (g.norm().item<double>() + 1e-12);
    EXPECT_LT(rel, 0.1) << name;
    worst = std::max(worst, rel);
  }
  // ...yet not equal: without autocast the bf16 step would repeat fp32 (up to atomics, ~1e-7).
  EXPECT_NE(bf16_loss, fp32_loss) << "the bf16 loss equals the fp32 one: autocast did not run";
  EXPECT_GT(worst, 1e-4) << "the bf16 gradients equal the fp32 ones: autocast did not run";
  // The matmuls ran in bf16 under the guard.
  torch::manual_seed(5);
  models::MaskedAutoencoderViT model(small_mae(true));
  model->to(torch::kCUDA);
  const auto x = torch::randn({2, 5, 64}).to(torch::kCUDA);  // [N, T, D]
  train::AutocastGuard autocast(torch::kCUDA, train::Precision::kBf16);
  EXPECT_EQ(model->blocks[0]->as<models::Block>()->attn->forward(x).scalar_type(), torch::kBFloat16);
}

// fp16 autocast with the loss scaled by 2^16 and the gradients unscaled: fp16 keeps 11 bits of
// mantissa, so the step tracks fp32 closer than bf16 does, and no gradient over- or underflows.
TEST(Gpu, Fp16ScaledStepTracksFp32) {
  REQUIRE_CUDA();
  const auto [fp32_loss, fp32] = cuda_step(true, train::Precision::kFp32, false);
  const auto [fp16_loss, fp16] = cuda_step(true, train::Precision::kFp16, false);
  EXPECT_NEAR(fp16_loss, fp32_loss, 0.005 * std::abs(fp32_loss));
  double worst = 0;
  for (const auto& [name, g] : fp32) {
    ASSERT_TRUE(fp16.at(name).isfinite().all().item<bool>()) << name << ": an fp16 gradient overflowed";
    const double rel = (fp16.at(name) - g).norm().item<double>() / (g.norm().item<double>() + 1e-12);
    EXPECT_LT(rel, 0.03) << name;
    worst = std::max(worst, rel);
  }
  EXPECT_GT(worst, 1e-5) << "the fp16 gradients equal the fp32 ones: autocast did not run";
  torch::manual_seed(5);
  models::MaskedAutoencoderViT model(small_mae(true));
  model->to(torch::kCUDA);
  const auto x = torch::randn({2, 5, 64}).to(torch::kCUDA);  // [N, T, D]
  train::AutocastGuard autocast(torch::kCUDA, train::Precision::kFp16);
  EXPECT_EQ(model->blocks[0]->as<models::Block>()->attn->forward(x).scalar_type(), torch::kHalf);
}

TEST(Gpu, CheckpointedBlocksMatchPlainOnCuda) {
  REQUIRE_CUDA();
  const auto [plain_loss, plain] = cuda_step(true, train::Precision::kBf16, false);
  const auto [ckpt_loss, ckpt] = cuda_step(true, train::Precision::kBf16, true);
  EXPECT_DOUBLE_EQ(plain_loss, ckpt_loss);
  expect_close(plain, ckpt, 1e-5, 1e-7);
  // Drop path draws from the CUDA generator are replayed in the recompute.
  auto vit_grads = [](bool checkpointing) {
    models::VisionTransformerOptions o;
    o.img_h = o.img_w = 32;
    o.patch_size = 8;
    o.embed_dim = 64;
    o.depth = 3;
    o.num_heads = 4;
    o.num_classes = 3;
    o.drop_path_rate = 0.5;
    torch::manual_seed(2);
    models::VisionTransformer vit(o);
    vit->to(torch::kCUDA);
    vit->train();
    models::set_grad_checkpointing(*vit, checkpointing);
    torch::manual_seed(3);
    vit->forward(torch::randn({8, 3, 32, 32}).to(torch::kCUDA)).pow(2).mean().backward();
    return mae::testing::named_grads(*vit);
  };
  expect_close(vit_grads(false), vit_grads(true), 1e-5, 1e-7);
}

TEST(Gpu, FusedAdamWMatchesTheLoopOnCuda) {
  REQUIRE_CUDA();
  auto make = [] {
    torch::manual_seed(9);
    std::vector<torch::Tensor> p{torch::randn({64, 33}).to(torch::kCUDA).requires_grad_(), torch::randn({33}).to(torch::kCUDA).requires_grad_()};
    return p;
  };
  auto pa = make(), pb = make();
  auto group = [](std::vector<torch::Tensor>& p) {
    optim::ParamGroup g;
    g.params = p;
    g.weight_decay = 0.05;
    return std::vector<optim::ParamGroup>{g};
  };
  auto ga = group(pa), gb = group(pb);
  auto fused = optim::make_adamw(ga, 0.9, 0.95, 1e-8, true);
  auto plain = optim::make_adamw(gb, 0.9, 0.95, 1e-8, false);
  ASSERT_NE(dynamic_cast<optim::FusedAdamW*>(fused.get()), nullptr);
  for (int k = 0; k < 5; ++k) {
    torch::manual_seed(20 + k);
    for (size_t i = 0; i < pa.size(); ++i) {
      const auto g = torch::randn_like(pa[i]);
      pa[i].mutable_grad() = g.clone();
      pb[i].mutable_grad() = g.clone();
    }
    optim::set_lr(*fused, ga, 1e-2);
    optim::set_lr(*plain, gb, 1e-2);
    fused->step();
    plain->step();
  }
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(tensors_close("param", pa[i].cpu(), pb[i].cpu(), 1e-5, 1e-6));
}

TEST(Gpu, NcclRunsAOneProcessJob) {
  REQUIRE_CUDA();
  const std::string dir = ::testing::TempDir() + "mae_gpu_nccl";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/data");
  mae::testing::write_synthetic_idx(dir + "/data", 640, 28, 10);  // the default model's 28 x 28 grey images
  const std::string command = std::string(MAE_BINARY) + " launch --nproc 1 -- pretrain --device cuda --set train.max_steps=10 " +
                              "--set data.root=" + dir + "/data --set data.train_files=images.idx,labels.idx " +
                              "--set data.val_files=images.idx,labels.idx --set knn.every=0 " +
                              "--set train.batch_size=64 --set log.every=5 --set log.progress=lines --set visualize.num_images=0 " +
                              "--set train.precision=bf16 --output " + dir + "/run";
  const auto [code, output] = mae::testing::run_command(command);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("distributed: 1 processes (nccl"), std::string::npos) << output;
  EXPECT_NE(output.find("10 optimizer step(s)"), std::string::npos) << output;
  std::filesystem::remove_all(dir);
}
