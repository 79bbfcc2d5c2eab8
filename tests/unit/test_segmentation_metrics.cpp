#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mae/core/error.h"
#include "mae/eval/segmentation.h"
#include "mae/tasks/segment.h"
#include "test_data_files.h"

using mae::eval::SegmentationMeter;

TEST(SegmentationMetrics, MatchAConfusionMatrixComputedByHand) {
  // Pairs (true, predicted) of the scored pixels: (0,0) (0,1) (1,1) (1,1) (2,1); the 255 is not scored.
  // Confusion rows: [1 1 0 0] [0 2 0 0] [0 1 0 0] [0 0 0 0]; TP 1 2 0 0, labelled 2 2 1 0,
  // predicted 1 4 0 0, union 2 4 1 0.
  SegmentationMeter meter(4);
  meter.add(torch::tensor({0, 1, 1}).view({1, 3}), torch::tensor({0, 0, 1}).view({1, 3}));
  meter.add(torch::tensor({1, 1, 0}).view({1, 3}), torch::tensor({1, 2, 255}).view({1, 3}));
  const auto m = meter.result();
  EXPECT_EQ(m.pixels, 5);
  EXPECT_TRUE(torch::equal(m.confusion, torch::tensor({1, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}).view({4, 4})));
  EXPECT_DOUBLE_EQ(m.iou[0], 50.0);
  EXPECT_DOUBLE_EQ(m.iou[1], 50.0);
  EXPECT_DOUBLE_EQ(m.iou[2], 0.0);
  EXPECT_TRUE(std::isnan(m.iou[3]));  // in neither labels nor predictions: left out of the mean
  EXPECT_DOUBLE_EQ(m.miou, 100.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.acc[1], 100.0);
  EXPECT_DOUBLE_EQ(m.macc, 50.0);  // (50 + 100 + 0) / 3
  EXPECT_DOUBLE_EQ(m.aacc, 60.0);  // 3 of 5

  const auto j = nlohmann::json::parse(mae::eval::segmentation_json(m, {"sky", "tree", "road", "car"}));
  EXPECT_DOUBLE_EQ(j.at("mIoU").get<double>(), 100.0 / 3.0);
  EXPECT_TRUE(j.at("per_class").at("car").at("IoU").is_null());
  EXPECT_DOUBLE_EQ(j.at("per_class").at("tree").at("Acc").get<double>(), 100.0);
}

TEST(SegmentationMetrics, ALabelOutsideTheClassesIsNamed) {
  SegmentationMeter meter(3);
  try {
    meter.add(torch::zeros({2, 2}, torch::kInt64), torch::full({2, 2}, 7, torch::kInt64));
    FAIL();
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("class 7 but the model has 3 classes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(meter.add(torch::zeros({2, 2}), torch::zeros({2, 3})), mae::Error);
}

TEST(SegmentationInference, SlidingWindowsOfAPixelwiseModelEqualTheWholeImage) {
  // A pixelwise model: every crop gives the pixels' own logits, so overlapping crops average to them.
  const auto pixelwise = [](const torch::Tensor& x) { return torch::cat({x, 2 * x - 1}, 1); };
  torch::manual_seed(0);
  const auto images = torch::rand({2, 1, 10, 13}, torch::kFloat64);
  const auto whole = mae::eval::whole_inference(pixelwise, images);
  const auto slid = mae::eval::slide_inference(pixelwise, images, 4, 6, 3, 4, 2);
  EXPECT_TRUE(torch::allclose(slid, whole, 0, 1e-12));
  // A crop larger than the image: one padded crop, cut back.
  const auto big = mae::eval::slide_inference(pixelwise, images, 16, 16, 8, 8, 2);
  EXPECT_EQ(big.sizes(), whole.sizes());
  EXPECT_TRUE(torch::allclose(big, whole, 0, 1e-12));
}

TEST(SegmentationInference, SlidingWindowsAverageWhereCropsOverlap) {
  // A model that answers with the crop's mean everywhere: the overlap count divides the sum.
  const auto mean = [](const torch::Tensor& x) { return x.mean({2, 3}, true).expand({x.size(0), 1, x.size(2), x.size(3)}); };
  const auto images = torch::arange(6, torch::kFloat64).view({1, 1, 1, 6});
  const auto slid = mae::eval::slide_inference(mean, images, 1, 4, 1, 2, 1);
  // Crops [0..4) (mean 1.5) and [2..6) (mean 3.5): pixels 2 and 3 get their average 2.5.
  EXPECT_TRUE(torch::allclose(slid.view({6}), torch::tensor({1.5, 1.5, 2.5, 2.5, 3.5, 3.5}, torch::kFloat64)));
}

TEST(SegmentationInference, AStrideLargerThanTheCropIsRefused) {
  // Crops of 4 every 5 pixels would leave every fifth column without a window (no logits).
  const auto identity = [](const torch::Tensor& x) { return x; };
  const auto images = torch::zeros({1, 1, 4, 14});
  try {
    mae::eval::slide_inference(identity, images, 4, 4, 4, 5, 1);
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("lower seg.stride"), std::string::npos) << e.what();
  }
}

TEST(SegmentationEvaluation, AnUnreadablePairIsLeftOutAndTheRestScored) {
  mae::testing::TempDir dir;
  mae::tasks::SegmentOptions o;
  o.data.root = dir.path();
  o.model.num_classes = 3;
  o.inference = mae::tasks::SegInference::kWhole;
  std::vector<mae::data::SegmentationPair> good, with_bad;
  for (int i = 0; i < 2; ++i) {
    const std::string image = dir.file(std::to_string(i) + ".png"), labels = dir.file(std::to_string(i) + "_labels.png");
    mae::testing::write_bytes(image, mae::testing::encode_png(mae::testing::smooth_image(40, 48, 3, i), 2));
    torch::manual_seed(i);
    mae::testing::write_bytes(labels, mae::testing::encode_png(torch::randint(0, 3, {40, 48, 1}).to(torch::kUInt8), 0));
    good.push_back({image, labels, image});
    with_bad.push_back(good.back());
    if (i == 0) {
      mae::testing::write_bytes(dir.file("bad.png"), "not a PNG");
      with_bad.push_back({dir.file("bad.png"), labels, dir.file("bad.png")});
    }
  }
  torch::manual_seed(0);
  mae::models::Segmenter model(o.model);
  const auto expected = mae::tasks::evaluate_segmenter(model, mae::data::PairSource(good, false), o, torch::kCPU);
  const auto scored = mae::tasks::evaluate_segmenter(model, mae::data::PairSource(with_bad, false), o, torch::kCPU);
  EXPECT_EQ(scored.pixels, 2 * 40 * 48);
  EXPECT_TRUE(torch::equal(scored.confusion, expected.confusion));
}

TEST(SegmentationPictures, IgnoredPixelsAreBlackAndKeepTheImageInOverlays) {
  const auto palette = mae::eval::class_palette(150);
  EXPECT_EQ(palette.sizes(), (std::vector<int64_t>{150, 3}));
  // Distinct colours for ADE20K's 150 classes.
  const auto packed = (palette.to(torch::kInt64).select(1, 0) * 65536 + palette.to(torch::kInt64).select(1, 1) * 256 +
                       palette.to(torch::kInt64).select(1, 2));
  EXPECT_EQ(std::get<0>(torch::_unique(packed)).numel(), 150);
  const auto labels = torch::tensor({0, 1, 255, 2}, torch::kInt64).view({2, 2});
  const auto colours = mae::eval::colorize(labels, palette);
  EXPECT_TRUE(torch::equal(colours[1][0], torch::zeros({3}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(colours[0][1], palette[1]));
  const auto image = torch::full({2, 2, 3}, 200, torch::kUInt8);
  const auto mixed = mae::eval::overlay(image, labels, palette, 0.5);
  EXPECT_TRUE(torch::equal(mixed[1][0], image[1][0]));
  const auto expected = ((image[0][0].to(torch::kFloat32) + palette[0].to(torch::kFloat32)) / 2).round().to(torch::kUInt8);
  EXPECT_TRUE(torch::equal(mixed[0][0], expected));
}
