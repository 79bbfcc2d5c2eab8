#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/data/augment/mixup.h"

using mae::data::Mixup;
using mae::data::MixupOptions;
using mae::testing::tensors_close;

namespace {

MixupOptions options(double mixup, double cutmix, double smoothing = 0.0, int64_t classes = 8) {
  MixupOptions o;
  o.mixup_alpha = mixup;
  o.cutmix_alpha = cutmix;
  o.label_smoothing = smoothing;
  o.num_classes = classes;
  return o;
}

torch::Tensor batch(int64_t b = 4, int64_t c = 3, int64_t h = 16, int64_t w = 12) {
  torch::manual_seed(2);
  return torch::randn({b, c, h, w});
}

torch::Tensor labels(int64_t b = 4) { return torch::arange(b, torch::kLong); }  // all different

}  // namespace

TEST(DataMixup, SmoothedOneHotHasTimmsOnAndOffValues) {
  const auto t = mae::data::smoothed_one_hot(torch::tensor({0, 2}, torch::kLong), 4, 0.1);
  const auto expected = torch::tensor({0.925f, 0.025f, 0.025f, 0.025f, 0.025f, 0.025f, 0.925f, 0.025f}).view({2, 4});
  EXPECT_TRUE(tensors_close("one hot", t, expected, 0, 1e-7));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(tensors_close("plain", mae::data::smoothed_one_hot(torch::tensor({3}, torch::kLong), 4, 0.0),
                            torch::tensor({0.f, 0.f, 0.f, 1.f}).view({1, 4}), 0, 0));
}

TEST(DataMixup, ProbabilityZeroGivesTheSmoothedOneHot) {
  MixupOptions o = options(0.8, 1.0, 0.1);
  o.prob = 0.0;
  const Mixup mix(o);
  const auto x = batch();
  for (uint64_t seed = 0; seed < 10; ++seed) {
    auto [images, targets] = mix.apply(x.clone(), labels(), seed);
    EXPECT_TRUE(torch::equal(images, x));
    EXPECT_TRUE(torch::equal(targets, mae::data::smoothed_one_hot(labels(), 8, 0.1)));
  }
  // Nothing enabled: the same, without any draw.
  const Mixup off(options(0.0, 0.0, 0.1));
  EXPECT_FALSE(off.options().enabled());
  auto [images, targets] = off.apply(x.clone(), labels(), 1);
  EXPECT_TRUE(torch::equal(images, x));
  EXPECT_TRUE(torch::equal(targets, mae::data::smoothed_one_hot(labels(), 8, 0.1)));
}

TEST(DataMixup, MixupBlendsWithTheFlippedBatch) {
  const Mixup mix(options(0.8, 0.0));
  const auto x = batch();
  int mixed = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto [images, targets] = mix.apply(x.clone(), labels(), seed);
    EXPECT_TRUE(tensors_close("rows sum to 1", targets.sum(1), torch::ones({4}), 0, 1e-6));
    const double lam = targets[0][0].item<double>();  // label 0 is sample 0's; sample 3 (label 3) is its partner
    EXPECT_NEAR(targets[0][3].item<double>(), 1 - lam, 1e-6);
    EXPECT_NEAR(targets[3][3].item<double>(), lam, 1e-6);
    EXPECT_TRUE(tensors_close("mixed", images, x * lam + x.flip({0}) * (1 - lam), 0, 1e-5));
    mixed += lam < 1 ? 1 : 0;
  }
  EXPECT_EQ(mixed, 20);
}

TEST(DataMixup, CutMixLamIsTheUncoveredArea) {
  const Mixup mix(options(0.0, 1.0));
  const auto x = batch(4, 2, 16, 12);
  int boxes = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    auto [images, targets] = mix.apply(x.clone(), labels(), seed);
    const double lam = targets[1][1].item<double>();
    EXPECT_NEAR(targets[1][2].item<double>(), 1 - lam, 1e-6);
    // The pasted pixels come from the partner, and cover 1 - lam of every image.
    const auto changed = images.ne(x).any(1);  // [B, H, W]
    for (int64_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(changed[i].sum().item<double>() / (16 * 12), 1 - lam, 1e-6) << "seed " << seed;  // float32 targets
    }
    EXPECT_TRUE(torch::equal(torch::where(changed.unsqueeze(1), x.flip({0}), x), images));
    // One rectangle, the same for every image.
    const auto rows = changed[0].any(1).nonzero(), cols = changed[0].any(0).nonzero();
    if (rows.numel() > 0) {
      ++boxes;
      EXPECT_EQ(changed[0].sum().item<int64_t>(), rows.size(0) * cols.size(0));
      EXPECT_TRUE(torch::equal(changed[0], changed[3]));
    }
  }
  EXPECT_GT(boxes, 20);
}

TEST(DataMixup, CutMixMinMaxDrawsBoxSidesInRange) {
  MixupOptions o = options(0.0, 0.0);
  o.cutmix_minmax = {0.25, 0.75};
  const Mixup mix(o);
  EXPECT_EQ(mix.options().cutmix_alpha, 1.0);  // forced, as timm does
  const auto x = batch(2, 1, 20, 20);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto [images, targets] = mix.apply(x.clone(), labels(2), seed);
    const auto changed = images.ne(x).any(1)[0];
    const int64_t h = changed.any(1).sum().item<int64_t>(), w = changed.any(0).sum().item<int64_t>();
    EXPECT_TRUE(h >= 5 && h < 15 && w >= 5 && w < 15) << h << "x" << w;
    EXPECT_NEAR(targets[0][0].item<double>(), 1.0 - static_cast<double>(h * w) / 400.0, 1e-6);
  }
}

TEST(DataMixup, PairAndElemModesMixPerSample) {
  const auto x = batch(6);
  MixupOptions o = options(1.0, 0.0);
  o.mode = mae::data::MixupMode::kPair;
  auto [pair_images, pair_targets] = Mixup(o).apply(x.clone(), labels(6), 3);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t j = 5 - i;
    const double lam = pair_targets[i][i].item<double>();
    EXPECT_NEAR(pair_targets[j][j].item<double>(), lam, 1e-6);  // a pair shares its lam
    EXPECT_TRUE(tensors_close("pair i", pair_images[i], x[i] * lam + x[j] * (1 - lam), 0, 1e-5));
    EXPECT_TRUE(tensors_close("pair j", pair_images[j], x[j] * lam + x[i] * (1 - lam), 0, 1e-5));
  }
  o.mode = mae::data::MixupMode::kElem;
  o.cutmix_alpha = 1.0;
  auto [elem_images, elem_targets] = Mixup(o).apply(x.clone(), labels(6), 3);
  EXPECT_TRUE(tensors_close("rows sum to 1", elem_targets.sum(1), torch::ones({6}), 0, 1e-6));
  std::set<float> lams;
  for (int64_t i = 0; i < 6; ++i) lams.insert(elem_targets[i][i].item<float>());
  EXPECT_GT(lams.size(), 3u);  // one lam per sample
}

TEST(DataMixup, IsReproducibleFromTheSeedAndValidated) {
  const Mixup mix(options(0.8, 1.0, 0.1));
  const auto x = batch();
  auto [a, ta] = mix.apply(x.clone(), labels(), 42);
  auto [b, tb] = mix.apply(x.clone(), labels(), 42);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(ta, tb));
  int differing = 0;
  for (uint64_t seed = 43; seed < 48; ++seed) {
    differing += torch::equal(mix.apply(x.clone(), labels(), seed).second, ta) ? 0 : 1;
  }
  EXPECT_GE(differing, 4);

  EXPECT_THROW(mix.apply(batch(3), labels(3), 1), mae::UsageError);                        // odd batch
  EXPECT_THROW(mix.apply(x.clone(), torch::tensor({0, 1, 2, 8}, torch::kLong), 1), mae::Error);  // label >= classes
  EXPECT_THROW(Mixup(options(0.8, 1.0, 0.1, 0)), mae::UsageError);                           // no classes
  EXPECT_THROW(Mixup(options(-1.0, 1.0)), mae::UsageError);
  MixupOptions o = options(0.8, 1.0);
  o.cutmix_minmax = {0.5};
  EXPECT_THROW(Mixup{o}, mae::UsageError);
  o.cutmix_minmax = {0.8, 0.2};
  EXPECT_THROW(Mixup{o}, mae::UsageError);
}

TEST(DataMixup, SoftTargetCrossEntropyMatchesCrossEntropy) {
  torch::manual_seed(1);
  const auto logits = torch::randn({5, 7}, torch::kDouble);
  const auto y = torch::tensor({0, 6, 3, 3, 1}, torch::kLong);
  namespace F = torch::nn::functional;
  EXPECT_TRUE(tensors_close("one hot", mae::data::soft_target_cross_entropy(logits, mae::data::smoothed_one_hot(y, 7, 0.0)),
                            F::cross_entropy(logits, y), 1e-12, 1e-12));
  // Smoothed targets equal PyTorch's label_smoothing.
  EXPECT_TRUE(tensors_close("smoothed", mae::data::soft_target_cross_entropy(logits, mae::data::smoothed_one_hot(y, 7, 0.1)),
                            F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().label_smoothing(0.1)), 1e-6, 1e-6));
  EXPECT_EQ(mae::data::soft_target_cross_entropy(logits.to(torch::kBFloat16), mae::data::smoothed_one_hot(y, 7, 0.0))
                .scalar_type(),
            torch::kFloat32);
}

TEST(DataMixup, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Mixup mix(options(0.8, 1.0, 0.1));
  const auto x = batch(8);
  for (uint64_t seed = 0; seed < 6; ++seed) {
    auto [cpu_images, cpu_targets] = mix.apply(x.clone(), labels(8), seed);
    auto [gpu_images, gpu_targets] = mix.apply(x.to(torch::kCUDA), labels(8), seed);
    EXPECT_TRUE(gpu_images.is_cuda() && gpu_targets.is_cuda());
    EXPECT_TRUE(tensors_close("images", gpu_images, cpu_images, 1e-6, 1e-6));
    EXPECT_TRUE(tensors_close("targets", gpu_targets, cpu_targets, 1e-6, 1e-6));
  }
}
