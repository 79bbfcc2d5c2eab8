#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/augment/random_erasing.h"

using mae::data::CropBox;
using mae::data::ErasingMode;
using mae::data::RandomErasing;
using mae::data::RandomErasingOptions;
using mae::data::SampleRng;

namespace {

torch::Tensor sample(int64_t c, int64_t h, int64_t w) {
  torch::manual_seed(4);
  return torch::rand({c, h, w}) + 10.0f;  // far from anything erasing writes
}

RandomErasingOptions options(double p, ErasingMode mode, int64_t count = 1) {
  RandomErasingOptions o;
  o.probability = p;
  o.mode = mode;
  o.max_count = count;
  return o;
}

// Pixels (any channel) that differ from the original.
int64_t changed_pixels(const torch::Tensor& after, const torch::Tensor& before) {
  return after.ne(before).any(0).sum().item<int64_t>();
}

}  // namespace

TEST(DataRandomErasing, ProbabilityZeroNeverErasesAndOneAlwaysDoes) {
  const auto original = sample(3, 32, 24);
  const RandomErasing never(options(0.0, ErasingMode::kPixel)), always(options(1.0, ErasingMode::kPixel));
  for (int i = 0; i < 100; ++i) {
    auto x = original.clone();
    SampleRng rng = SampleRng::for_sample(1, 0, i);
    EXPECT_TRUE(never.apply(x, rng).empty());
    EXPECT_TRUE(torch::equal(x, original));
    SampleRng rng2 = SampleRng::for_sample(1, 0, i);
    const auto boxes = always.apply(x, rng2);
    ASSERT_EQ(boxes.size(), 1u) << i;
    EXPECT_EQ(changed_pixels(x, original), boxes[0].height * boxes[0].width) << i;
  }
}

TEST(DataRandomErasing, BoxesRespectAreaAndAspectBounds) {
  const int64_t H = 40, W = 30;
  const auto original = sample(1, H, W);
  const RandomErasing erase(options(1.0, ErasingMode::kConst));
  double area_min = 1, area_max = 0;
  for (int i = 0; i < 2000; ++i) {
    auto x = original.clone();
    SampleRng rng = SampleRng::for_sample(2, 0, i);
    const auto boxes = erase.apply(x, rng);
    ASSERT_EQ(boxes.size(), 1u);
    const CropBox b = boxes[0];
    ASSERT_TRUE(b.top >= 0 && b.left >= 0 && b.height < H && b.width < W && b.top + b.height <= H &&
                b.left + b.width <= W);
    const double area = static_cast<double>(b.height * b.width) / (H * W);
    // Rounding each side to whole pixels moves the area and ratio a little past the drawn range.
    ASSERT_GE(area, 0.02 * 0.6) << b.height << "x" << b.width;
    ASSERT_LE(area, 1.0 / 3.0 * 1.15) << b.height << "x" << b.width;
    const double ratio = static_cast<double>(b.height) / static_cast<double>(b.width);
    ASSERT_GE(ratio, 0.3 * 0.7);
    ASSERT_LE(ratio, 1 / 0.3 / 0.7);
    area_min = std::min(area_min, area);
    area_max = std::max(area_max, area);
    // const mode writes zeros (the dataset mean after Normalize) and nothing else.
    EXPECT_EQ(x.eq(0).sum().item<int64_t>(), b.height * b.width);
    EXPECT_EQ(changed_pixels(x, original), b.height * b.width);
  }
  EXPECT_LT(area_min, 0.03);
  EXPECT_GT(area_max, 0.30);
}

TEST(DataRandomErasing, ModesAndCountsFollowTimm) {
  const auto original = sample(3, 48, 48);
  // rand: one normal value per channel for the whole box.
  {
    auto x = original.clone();
    SampleRng rng(3);
    const auto boxes = RandomErasing(options(1.0, ErasingMode::kRand)).apply(x, rng);
    ASSERT_EQ(boxes.size(), 1u);
    const CropBox& b = boxes[0];
    const auto box = x.slice(1, b.top, b.top + b.height).slice(2, b.left, b.left + b.width);
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(box[c].max().item<float>(), box[c].min().item<float>());
  }
  // pixel: N(0, 1) noise per pixel.
  double sum = 0, sum_sq = 0;
  int64_t n = 0;
  for (int i = 0; i < 50; ++i) {
    auto x = original.clone();
    SampleRng rng(100 + i);
    for (const CropBox& b : RandomErasing(options(1.0, ErasingMode::kPixel)).apply(x, rng)) {
      const auto v = x.slice(1, b.top, b.top + b.height).slice(2, b.left, b.left + b.width).to(torch::kDouble);
      sum += v.sum().item<double>();
      sum_sq += v.square().sum().item<double>();
      n += v.numel();
    }
  }
  ASSERT_GT(n, 10000);
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 1.0, 0.03);
  // count 3: 1..3 boxes per image, each drawn with a third of the area.
  std::set<size_t> counts;
  const RandomErasing three(options(1.0, ErasingMode::kConst, 3));
  for (int i = 0; i < 200; ++i) {
    auto x = original.clone();
    SampleRng rng = SampleRng::for_sample(5, 1, i);
    const auto boxes = three.apply(x, rng);
    counts.insert(boxes.size());
    for (const CropBox& b : boxes) EXPECT_LE(b.height * b.width, 48 * 48 / 3 / static_cast<int64_t>(boxes.size()) * 1.2);
  }
  EXPECT_EQ(counts, (std::set<size_t>{1, 2, 3}));
}

TEST(DataRandomErasing, IsSeededAndValidated) {
  const auto original = sample(3, 16, 16);
  const RandomErasing erase(options(0.5, ErasingMode::kPixel, 2));
  for (int i = 0; i < 20; ++i) {
    auto a = original.clone(), b = original.clone();
    SampleRng ra = SampleRng::for_sample(9, 0, i), rb = SampleRng::for_sample(9, 0, i);
    erase.apply(a, ra);
    erase.apply(b, rb);
    EXPECT_TRUE(torch::equal(a, b));
  }
  EXPECT_EQ(mae::core::parse_choice(mae::data::kErasingModeNames, "rand", "data.remode"), ErasingMode::kRand);
  EXPECT_THROW(mae::core::parse_choice(mae::data::kErasingModeNames, "noise", "data.remode"), mae::UsageError);
  EXPECT_THROW(RandomErasing(options(1.5, ErasingMode::kConst)), mae::UsageError);
  EXPECT_THROW(RandomErasing(options(0.5, ErasingMode::kConst, 0)), mae::UsageError);
  RandomErasingOptions o;
  o.min_area = 0.5;
  o.max_area = 0.4;
  EXPECT_THROW(RandomErasing{o}, mae::UsageError);
  auto wrong = torch::zeros({3, 4, 4}, torch::kDouble);
  SampleRng rng(1);
  EXPECT_THROW(erase.apply(wrong, rng), mae::Error);
}
