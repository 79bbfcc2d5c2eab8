#include <cmath>

#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/data/augment/transforms.h"

using mae::data::CropBox;
using mae::data::SampleRng;

// Mean area fraction and mean log aspect ratio of 40000 torchvision RandomResizedCrop.get_params
// draws (scale (0.2, 1), ratio (3/4, 4/3)), computed with torchvision 0.29.
struct CropStatistics {
  int64_t height, width;
  double mean_area, mean_log_ratio;
};

TEST(DataTransforms, RandomResizedCropMatchesTorchvisionStatistics) {
  for (const CropStatistics& expected : {CropStatistics{140, 140, 0.5414, 0.0006}, CropStatistics{120, 160, 0.4976, 0.0352}}) {
    const int64_t H = expected.height, W = expected.width;
    double area_sum = 0, log_ratio_sum = 0, area_min = 1, area_max = 0;
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      SampleRng rng = SampleRng::for_sample(7, 0, i);
      const CropBox b = mae::data::random_resized_crop_params(H, W, 0.2, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
      ASSERT_TRUE(b.top >= 0 && b.left >= 0 && b.height > 0 && b.width > 0 && b.top + b.height <= H &&
                  b.left + b.width <= W)
          << "box " << b.top << "," << b.left << " " << b.height << "x" << b.width;
      const double area = static_cast<double>(b.height * b.width) / static_cast<double>(H * W);
      const double ratio = static_cast<double>(b.width) / static_cast<double>(b.height);
      // Rounding to whole pixels moves area and ratio a little outside the drawn range.
      ASSERT_GE(area, 0.2 * 0.97);
      ASSERT_GE(ratio, 0.75 * 0.97);
      ASSERT_LE(ratio, 4.0 / 3.0 * 1.03);
      area_sum += area;
      log_ratio_sum += std::log(ratio);
      area_min = std::min(area_min, area);
      area_max = std::max(area_max, area);
    }
    EXPECT_LT(area_min, 0.21);
    EXPECT_GT(area_max, 0.99);
    // Large draws of extreme ratio do not fit and are drawn again, so the mean area is below 0.6
    // and a landscape image favours wide crops.
    EXPECT_NEAR(area_sum / n, expected.mean_area, 0.008) << H << "x" << W;
    EXPECT_NEAR(log_ratio_sum / n, expected.mean_log_ratio, 0.006) << H << "x" << W;
  }
}

TEST(DataTransforms, RandomResizedCropFallsBackToTheClampedCentre) {
  // Scale (0.9, 1) with ratio (3/4, 4/3) never fits a 10x1000 strip: torchvision's fallback.
  SampleRng rng(1);
  const CropBox b = mae::data::random_resized_crop_params(10, 1000, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
  EXPECT_EQ(b, (CropBox{0, (1000 - 13) / 2, 10, 13}));
  const CropBox t = mae::data::random_resized_crop_params(1000, 10, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
  EXPECT_EQ(t, (CropBox{(1000 - 13) / 2, 0, 13, 10}));
}

TEST(DataTransforms, CenterCropBoxMatchesResizeThenCenterCrop) {
  // Resize(256) + CenterCrop(224) of a 256x256 image keeps the central 224x224.
  EXPECT_EQ(mae::data::center_crop_box(256, 256, 224, 224, 256.0 / 224.0), (CropBox{16, 16, 224, 224}));
  // 375x500: the short side 375 shrinks to 256, so 224 output pixels cover 375 * 224 / 256 = 328.
  EXPECT_EQ(mae::data::center_crop_box(375, 500, 224, 224, 256.0 / 224.0), (CropBox{24, 86, 328, 328}));
  // Ratio 1 on a square image of the output size: the whole image.
  EXPECT_EQ(mae::data::center_crop_box(28, 28, 28, 28, 1.0), (CropBox{0, 0, 28, 28}));
  // Non-square output keeps its aspect ratio.
  EXPECT_EQ(mae::data::center_crop_box(100, 100, 50, 100, 1.0), (CropBox{25, 0, 50, 100}));
}

TEST(DataTransforms, ResizeIsAntialiasedAndIdentityAtSameSize) {
  // A 1-pixel checkerboard halved: antialiasing averages it to mid-grey, plain sampling would not.
  auto board = torch::zeros({64, 64, 3}, torch::kUInt8);
  auto a = board.accessor<uint8_t, 3>();
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      for (int c = 0; c < 3; ++c) a[y][x][c] = ((x + y) % 2) ? 255 : 0;
    }
  }
  for (auto mode : {mae::data::Interpolation::kBilinear, mae::data::Interpolation::kBicubic}) {
    const auto half = mae::data::resize(board, 32, 32, mode);
    ASSERT_EQ(half.sizes(), (std::vector<int64_t>{32, 32, 3}));
    const auto inner = half.slice(0, 2, 30).slice(1, 2, 30).to(torch::kFloat32);
    EXPECT_LT((inner - 127.5).abs().max().item<float>(), 3.0f);
  }
  EXPECT_TRUE(mae::data::resize(board, 64, 64, mae::data::Interpolation::kBicubic).is_same(board));
  EXPECT_THROW(mae::core::parse_choice(mae::data::kInterpolationNames, "nearest", "data.interpolation"), mae::UsageError);
}

TEST(DataTransforms, NormalizeMatchesToTensorNormalizeAndFlips) {
  auto pixels = torch::tensor({0, 51, 255, 7, 100, 200, 30, 60, 90, 120, 150, 180}, torch::kUInt8).reshape({2, 2, 3});
  mae::data::Normalize normalize({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
  std::vector<float> out(12), flipped(12);
  normalize.apply(pixels, false, out.data());
  normalize.apply(pixels, true, flipped.data());
  const auto chw = torch::from_blob(out.data(), {3, 2, 2});
  // torchvision: ToTensor (x / 255 in float32), then (x - mean) / std in float32.
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1});
  const auto expected = (pixels.permute({2, 0, 1}).to(torch::kFloat32).div(255) - mean) / std;
  EXPECT_TRUE(torch::equal(chw, expected)) << chw << expected;
  EXPECT_TRUE(torch::equal(torch::from_blob(flipped.data(), {3, 2, 2}), expected.flip({2})));
  // A fourth (padding) channel, as in RGBX, is ignored.
  std::vector<float> from_rgbx(12);
  normalize.apply(torch::cat({pixels, torch::full({2, 2, 1}, 9, torch::kUInt8)}, 2), false, from_rgbx.data());
  EXPECT_EQ(from_rgbx, out);
  EXPECT_THROW(mae::data::Normalize({0.5}, {0.0}), mae::UsageError);
  EXPECT_THROW(mae::data::Normalize({0.5, 0.5}, {0.5}), mae::UsageError);
}

TEST(DataTransforms, ChannelConversionUsesPilWeights) {
  auto rgb = torch::tensor({255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30}, torch::kUInt8).reshape({2, 2, 3});
  const auto grey = mae::data::convert_channels(rgb, 1);
  // PIL's convert("L") gives 76, 150, 29 for pure red, green, blue; 18 for (10, 20, 30).
  EXPECT_TRUE(torch::equal(grey.flatten(), torch::tensor({76, 150, 29, 18}, torch::kUInt8)));
  const auto back = mae::data::convert_channels(grey, 3);
  EXPECT_TRUE(torch::equal(back.select(2, 0), back.select(2, 2)));
  EXPECT_THROW(mae::data::convert_channels(rgb, 4), mae::Error);
}

TEST(DataTransforms, SampleTransformTrainIsSeededAndEvalIsExact) {
  torch::manual_seed(3);
  mae::data::RawImage image;
  image.pixels = torch::randint(0, 256, {28, 28, 1}, torch::kUInt8);
  image.height = image.width = 28;
  image.channels = 1;
  mae::data::TransformOptions o;  // the Fashion-MNIST defaults
  mae::data::SampleTransform train(o);
  std::vector<float> a(train.numel()), b(train.numel()), c(train.numel());
  SampleRng r1(11), r2(11), r3(12);
  train.apply(image, r1, a.data());
  train.apply(image, r2, b.data());
  train.apply(image, r3, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  o.train = false;
  o.eval_resize_ratio = 1.0;
  mae::data::SampleTransform eval(o);
  std::vector<float> e(eval.numel());
  eval.apply(image, r1, e.data());
  const auto expected = (image.pixels.permute({2, 0, 1}).to(torch::kFloat32).div(255) - 0.2860f) / 0.3530f;
  EXPECT_TRUE(mae::testing::tensors_close("eval", torch::from_blob(e.data(), {1, 28, 28}), expected, 0, 1e-6));
}

TEST(DataTransforms, SampleTransformValidatesItsOptions) {
  mae::data::TransformOptions o;
  o.channels = 3;  // one mean value for three channels
  EXPECT_THROW(mae::data::SampleTransform{o}, mae::UsageError);
  o = {};
  o.scale_min = 0;
  EXPECT_THROW(mae::data::SampleTransform{o}, mae::UsageError);
  o = {};
  o.eval_resize_ratio = 0.5;
  EXPECT_THROW(mae::data::SampleTransform{o}, mae::UsageError);
  o = {};
  o.pixel_range = -1;
  EXPECT_THROW(mae::data::SampleTransform{o}, mae::UsageError);
  // Any channel count is fine (multi-band data), but RandAugment's PIL ops want grey or RGB.
  o = {};
  o.channels = 2;
  o.mean = {0.5, 0.5};
  o.std = {0.5, 0.5};
  EXPECT_NO_THROW(mae::data::SampleTransform{o});
  o.auto_augment = "rand-m9-mstd0.5-inc1";
  EXPECT_THROW(mae::data::SampleTransform{o}, mae::UsageError);
}
