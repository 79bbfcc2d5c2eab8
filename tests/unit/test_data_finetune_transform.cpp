// The fine-tuning augmentations inside the per-sample transform, the factory and the loader.
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/factory.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/loader/loader.h"
#include "mae/data/sources/memory_source.h"
#include "mae/data/augment/sample_transform.h"
#include "test_data_files.h"

using mae::data::SampleRng;
using mae::data::SampleTransform;
using mae::data::TransformOptions;

namespace {

mae::data::RawImage grey_image(int64_t h = 28, int64_t w = 28) {
  torch::manual_seed(3);
  mae::data::RawImage image;
  image.pixels = torch::randint(0, 256, {h, w, 1}, torch::kUInt8);
  image.height = h;
  image.width = w;
  image.channels = 1;
  return image;
}

std::vector<float> run(const SampleTransform& t, const mae::data::RawImage& image, uint64_t seed) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  SampleRng rng(seed);
  t.apply(image, rng, out.data());
  return out;
}

TransformOptions augmented() {
  TransformOptions o;
  o.auto_augment = "rand-m9-mstd0.5-inc1";
  o.reprob = 1.0;
  o.remode = mae::data::ErasingMode::kConst;
  return o;
}

}  // namespace

TEST(DataFineTuneTransform, AugmentationsOffChangeNothing) {
  const auto image = grey_image();
  TransformOptions plain;
  TransformOptions off = plain;
  off.remode = mae::data::ErasingMode::kRand;  // ignored while reprob is 0
  off.recount = 4;
  const SampleTransform a(plain), b(off);
  for (uint64_t seed = 0; seed < 20; ++seed) EXPECT_EQ(run(a, image, seed), run(b, image, seed));
  // Eval never augments.
  TransformOptions eval = augmented(), eval_plain;
  eval.train = eval_plain.train = false;
  EXPECT_EQ(run(SampleTransform(eval), image, 1), run(SampleTransform(eval_plain), image, 1));
}

TEST(DataFineTuneTransform, RandAugmentAndErasingAreSeeded) {
  const auto image = grey_image();
  const SampleTransform plain{TransformOptions{}}, aug{augmented()};
  int changed = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto x = run(aug, image, seed);
    EXPECT_EQ(x, run(aug, image, seed));
    changed += x != run(plain, image, seed) ? 1 : 0;
    // const erasing writes exact zeros (the mean) in one rectangle; Normalize never gives 0 here.
    const auto t = torch::from_blob(const_cast<float*>(x.data()), {28, 28}).eq(0);
    const auto rows = t.any(1).nonzero(), cols = t.any(0).nonzero();
    EXPECT_GT(rows.numel(), 0) << seed;
    EXPECT_EQ(t.sum().item<int64_t>(), rows.size(0) * cols.size(0)) << seed;
  }
  EXPECT_EQ(changed, 20);
}

TEST(DataFineTuneTransform, ColourJpegsGoThroughRandAugment) {
  // Colour JPEGs decode to RGBX; RandAugment sees RGB and the output matches the grey path's shape.
  const auto pixels = mae::testing::smooth_image(40, 48, 3, 1);
  const auto image = mae::data::parse_image(mae::testing::encode_jpeg(pixels), "test.jpg");
  TransformOptions o = augmented();
  o.channels = 3;
  o.mean = {0.485, 0.456, 0.406};
  o.std = {0.229, 0.224, 0.225};
  o.height = o.width = 24;
  o.reprob = 0;
  const SampleTransform t(o);
  TransformOptions plain_options = o;
  plain_options.auto_augment.clear();
  const SampleTransform plain(plain_options);
  int changed = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const auto a = run(t, image, seed);
    EXPECT_EQ(a, run(t, image, seed));
    changed += a != run(plain, image, seed) ? 1 : 0;
  }
  EXPECT_GE(changed, 6);  // a quarter of the images get no op (two draws at p = 0.5)
}

TEST(DataFineTuneTransform, BadAugmentationOptionsAreUsageErrors) {
  TransformOptions o;
  o.auto_augment = "rand-m9-zz1";
  EXPECT_THROW(SampleTransform{o}, mae::UsageError);
  o = {};
  o.auto_augment = "v0";
  EXPECT_THROW(SampleTransform{o}, mae::UsageError);
  o = {};
  o.reprob = 1.5;
  EXPECT_THROW(SampleTransform{o}, mae::UsageError);
  o = {};
  o.reprob = 0.25;
  o.recount = 0;
  EXPECT_THROW(SampleTransform{o}, mae::UsageError);
}

TEST(DataFineTuneTransform, FactoryKeepsTheAugmentationsForTrainOnly) {
  mae::data::DataOptions c;
  auto train = mae::data::transform_options(c, mae::data::Split::kTrain, 1, 28, 28);
  EXPECT_EQ(train.auto_augment, "");
  EXPECT_EQ(train.reprob, 0.0);
  EXPECT_EQ(train.remode, mae::data::ErasingMode::kPixel);
  EXPECT_EQ(train.recount, 1);
  c.transform.auto_augment = "rand-m9-mstd0.5-inc1";
  c.transform.reprob = 0.25;
  c.transform.remode = mae::data::ErasingMode::kRand;
  c.transform.recount = 2;
  train = mae::data::transform_options(c, mae::data::Split::kTrain, 1, 28, 28);
  EXPECT_EQ(train.auto_augment, "rand-m9-mstd0.5-inc1");
  EXPECT_EQ(train.reprob, 0.25);
  EXPECT_EQ(train.remode, mae::data::ErasingMode::kRand);
  EXPECT_EQ(train.recount, 2);
  const auto val = mae::data::transform_options(c, mae::data::Split::kVal, 1, 28, 28);
  EXPECT_EQ(val.auto_augment, "");
  EXPECT_EQ(val.reprob, 0.0);
}

TEST(DataFineTuneTransform, LoaderBatchesAreIdenticalWhateverTheThreadCount) {
  torch::manual_seed(0);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 24; ++i) labels.push_back(i % 5);
  auto source = std::make_shared<mae::data::MemorySource>(torch::randint(0, 256, {24, 14, 12, 1}, torch::kUInt8), labels,
                                                          std::vector<std::string>{}, "memory");
  TransformOptions t = augmented();
  t.height = t.width = 10;
  t.reprob = 0.5;
  t.remode = mae::data::ErasingMode::kPixel;
  t.recount = 2;
  auto transform = std::make_shared<const SampleTransform>(t);
  std::vector<std::vector<torch::Tensor>> runs;
  for (int workers : {1, 3}) {
    mae::data::LoaderOptions o;
    o.batch_size = 6;
    o.num_workers = workers;
    o.seed = 4;
    mae::data::Loader loader(source, transform, o);
    loader.set_epoch(1);
    std::vector<torch::Tensor> images;
    mae::data::Batch b;
    while (loader.next(&b)) images.push_back(b.images);
    runs.push_back(images);
  }
  ASSERT_EQ(runs[0].size(), 4u);
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_TRUE(torch::equal(runs[0][i], runs[1][i])) << "batch " << i;
}
