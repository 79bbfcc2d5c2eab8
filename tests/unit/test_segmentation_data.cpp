#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mae/config/settings.h"
#include "mae/core/error.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/loader/loader.h"
#include "mae/data/segmentation/joint_transform.h"
#include "mae/data/segmentation/pairs.h"
#include "mae/data/segmentation/samples.h"
#include "mae/tasks/segment.h"
#include "test_data_files.h"

using mae::data::JointTransform;
using mae::data::JointTransformOptions;
using mae::data::SampleRng;
using mae::testing::encode_png;
using mae::testing::TempDir;
using mae::testing::write_bytes;

namespace {

torch::Tensor decode_labels(const std::string& bytes) {
  return mae::data::decode_label_map(mae::data::parse_image(bytes, "labels.png"));
}

// A 256 x 256 image whose red and green values are the pixel's column and row, and a label map of
// 4 x 4 blocks of 64 pixels (class = 4 * block row + block column): after any geometric step the
// colours say where a pixel came from, and so which class it must carry.
struct Pattern {
  torch::Tensor image, labels;
};

// The class of the 64-pixel block at column x, row y (integer tensors).
torch::Tensor block_class(const torch::Tensor& x, const torch::Tensor& y) {
  return torch::div(y, 64, "floor") * 4 + torch::div(x, 64, "floor");
}

Pattern position_pattern() {
  const auto x = torch::arange(256, torch::kInt64).view({1, 256}).expand({256, 256});
  const auto y = torch::arange(256, torch::kInt64).view({256, 1}).expand({256, 256});
  Pattern p;
  p.image = torch::stack({x, y, torch::zeros_like(x)}, 2).to(torch::kUInt8).contiguous();
  p.labels = block_class(x, y).to(torch::kUInt8).contiguous();
  return p;
}

JointTransformOptions pattern_options() {
  JointTransformOptions o;
  o.crop_h = 96, o.crop_w = 80;
  o.scale_long = o.scale_short = 256;
  o.mean = {0, 0, 0};
  o.std = {1, 1, 1};
  o.pixel_range = 255;
  o.photometric = false;
  return o;
}

}  // namespace

TEST(SegmentationData, LabelMapsAreTheStoredIndicesOfGreyAndPalettePngs) {
  const auto grey = torch::tensor({0, 1, 2, 150, 255, 7}, torch::kUInt8).view({2, 3, 1});
  EXPECT_TRUE(torch::equal(decode_labels(encode_png(grey, 0)), grey.squeeze(2)));
  // Palette indices in order of first appearance: red 0, green 1, red 0, blue 2.
  const auto colours = torch::tensor({255, 0, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255}, torch::kUInt8).view({2, 2, 3});
  EXPECT_TRUE(torch::equal(decode_labels(encode_png(colours, 3)), torch::tensor({0, 1, 0, 2}, torch::kUInt8).view({2, 2})));
  try {
    decode_labels(encode_png(colours, 2));
    FAIL() << "an RGB label map must be refused";
  } catch (const mae::data::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("8-bit grey or palette PNG"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_labels(encode_png(grey, 0, 16)), mae::data::DataError);
}

TEST(SegmentationData, ReduceZeroLabelMovesOtherToIgnored) {
  const auto labels = torch::tensor({0, 1, 150, 255}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(mae::data::reduce_zero_label(labels), torch::tensor({255, 0, 149, 255}, torch::kUInt8)));
}

TEST(SegmentationData, Ade20kLayoutAndListFilesPairImagesWithLabels) {
  TempDir dir;
  const auto image = mae::testing::smooth_image(6, 8, 3, 1);
  const auto labels = torch::full({6, 8, 1}, 3, torch::kUInt8);
  for (const char* name : {"b", "a"}) {
    write_bytes(dir.file(std::string("images/training/ADE_") + name + ".jpg"), mae::testing::encode_jpeg(image));
    write_bytes(dir.file(std::string("annotations/training/ADE_") + name + ".png"), encode_png(labels, 0));
  }
  const auto pairs = mae::data::scan_ade20k(dir.path(), "training");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].labels, dir.file("annotations/training/ADE_a.png"));
  const mae::data::PairSource source(pairs, /*reduce_zero_label=*/true);
  EXPECT_TRUE(torch::equal(source.open_labels(0, 6, 8), torch::full({6, 8}, 2, torch::kUInt8)));
  EXPECT_THROW(source.open_labels(0, 8, 6), mae::data::DataError);  // another size than its image
  EXPECT_THROW(mae::data::scan_ade20k(dir.path(), "validation"), mae::UsageError);

  write_bytes(dir.file("train.txt"), "# image labels\nimages/training/ADE_a.jpg annotations/training/ADE_a.png\n\n");
  const auto listed = mae::data::read_pair_lists(dir.path(), {"train.txt"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].image, dir.file("images/training/ADE_a.jpg"));
  write_bytes(dir.file("bad.txt"), "images/training/ADE_a.jpg\n");
  try {
    mae::data::read_pair_lists(dir.path(), {"bad.txt"});
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt:1: expected `image labels`"), std::string::npos) << e.what();
  }
}

TEST(SegmentationData, ImageAndLabelsStayAlignedUnderEveryAugmentation) {
  const Pattern p = position_pattern();
  const auto raw = mae::data::parse_image(encode_png(p.image, 2), "pattern.png");
  const JointTransform transform(pattern_options());
  int flipped = 0;
  std::set<int64_t> tops;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    SampleRng rng(seed);
    const auto s = transform.apply(raw, p.labels, rng);
    ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{3, 96, 80}));
    ASSERT_EQ(s.labels.sizes(), (std::vector<int64_t>{96, 80}));
    // Where each output pixel came from, read from its colour; its class follows.
    const auto x = (s.image[0] * 255).round().to(torch::kInt64), y = (s.image[1] * 255).round().to(torch::kInt64);
    const auto expected = block_class(x, y);
    const auto scored = s.labels.ne(255);
    // Within 3 pixels of a block border, bilinear colours and nearest labels may disagree by a pixel.
    const auto inner = [](const torch::Tensor& v) { return torch::remainder(v, 64).ge(3).logical_and(torch::remainder(v, 64).le(60)); };
    const auto checked = scored.logical_and(inner(x)).logical_and(inner(y));
    ASSERT_GT(checked.sum().item<int64_t>(), 1000) << "seed " << seed;
    EXPECT_EQ(expected.ne(s.labels).logical_and(checked).sum().item<int64_t>(), 0) << "seed " << seed;
    // Padding (an image scaled below the crop) is ignored in the labels and zero in the image.
    EXPECT_TRUE(s.image.masked_select(scored.logical_not().unsqueeze(0).expand({3, 96, 80})).eq(0).all().item<bool>());
    flipped += x[0][0].item<int64_t>() > x[0][10].item<int64_t>();
    tops.insert(y[0][0].item<int64_t>());
  }
  EXPECT_GT(flipped, 3);        // both flip states were drawn
  EXPECT_GT(tops.size(), 10u);  // and many crop positions
}

TEST(SegmentationData, PhotometricDistortionChangesColoursOnly) {
  const Pattern p = position_pattern();
  const auto raw = mae::data::parse_image(encode_png(p.image, 2), "pattern.png");
  auto o = pattern_options();
  const JointTransform plain(o);
  o.photometric = true;
  const JointTransform distorted(o);
  bool changed = false;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SampleRng a(seed), b(seed);
    const auto s = plain.apply(raw, p.labels, a), t = distorted.apply(raw, p.labels, b);
    EXPECT_TRUE(torch::equal(s.labels, t.labels));  // the same geometry
    changed = changed || !torch::equal(s.image, t.image);
  }
  EXPECT_TRUE(changed);
  // Each step clips to 8 bits; a grey image stays grey (no colour steps on one channel).
  SampleRng rng(3);
  const auto grey = mae::data::photometric_distortion(torch::full({4, 4, 1}, 250, torch::kUInt8), rng);
  EXPECT_EQ(grey.scalar_type(), torch::kUInt8);
  EXPECT_EQ(grey.size(2), 1);
}

TEST(SegmentationData, CropsAvoidASingleClassWhenCatMaxRatioAsks) {
  // Left half class 0, right half class 1; 16 x 16 crops of a 64 x 64 map, no resize.
  const auto image = mae::testing::smooth_image(64, 64, 3, 2);
  const auto raw = mae::data::parse_image(encode_png(image, 2), "halves.png");
  const auto labels = (torch::arange(64).view({1, 64}).expand({64, 64}) >= 32).to(torch::kUInt8).contiguous();
  auto o = pattern_options();
  o.crop_h = o.crop_w = 16;
  o.scale_long = o.scale_short = 64;
  o.ratio_min = o.ratio_max = 1;
  auto mixed_crops = [&](double cat_max_ratio) {
    o.cat_max_ratio = cat_max_ratio;
    const JointTransform t(o);
    int mixed = 0;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      SampleRng rng(seed);
      const auto share = t.apply(raw, labels, rng).labels.to(torch::kFloat64).mean().item<double>();
      mixed += share > 0.25 && share < 0.75;
    }
    return mixed;
  };
  const int any = mixed_crops(1.0), balanced = mixed_crops(0.75);
  EXPECT_GT(balanced, 2 * any);
  EXPECT_GT(balanced, 20);
}

TEST(SegmentationData, ACropIsDrawnAgainUpToTenTimesAsMmsegDoes) {
  // mmseg's RandomCrop checks a box, draws another while the check fails, ten times, and keeps the
  // eleventh unchecked. A map of one class never passes, so the draws show 11 boxes: the resize
  // ratio, then (top, left) per box, then the flip.
  const auto raw = mae::data::parse_image(encode_png(mae::testing::smooth_image(64, 64, 3, 3), 2), "one.png");
  const auto labels = torch::zeros({64, 64}, torch::kUInt8);
  auto o = pattern_options();
  o.crop_h = o.crop_w = 16;
  o.scale_long = o.scale_short = 64;
  o.ratio_min = o.ratio_max = 1;
  o.cat_max_ratio = 0.75;
  SampleRng rng(5), expected(5);
  JointTransform(o).apply(raw, labels, rng);
  expected.uniform(1, 1);
  for (int box = 0; box < 11; ++box) expected.randint(0, 49), expected.randint(0, 49);
  expected.uniform();
  EXPECT_EQ(rng.next_u64(), expected.next_u64());
}

TEST(SegmentationData, AClassNamesFileOfAnotherCountIsRefused) {
  TempDir dir;
  write_bytes(dir.file("classes.txt"), "other\nwall\nsky\n");  // ADE20K's list with "other" at 0
  mae::tasks::SegmentDataOptions data;
  data.root = dir.path();
  data.class_names_file = "classes.txt";
  EXPECT_EQ(mae::tasks::segmentation_class_names(data, 3), (std::vector<std::string>{"other", "wall", "sky"}));
  EXPECT_EQ(mae::tasks::segmentation_class_names(data, 0).size(), 3u);  // model.num_classes 0: the file's count
  try {
    mae::tasks::segmentation_class_names(data, 2);  // reduce_zero_label: "other" is not a class
    FAIL();
  } catch (const mae::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("names 3 classes but model.num_classes is 2"), std::string::npos) << what;
    EXPECT_NE(what.find("leave its name out"), std::string::npos) << what;
  }
  data.class_names_file.clear();
  EXPECT_EQ(mae::tasks::segmentation_class_names(data, 2), (std::vector<std::string>{"0", "1"}));
}

TEST(SegmentationData, SettingsThatLeavePixelsUnscoredOrBatchNormWithoutABatchAreRefused) {
  TempDir dir;
  mae::tasks::SegmentOptions o;
  o.data.root = dir.path();
  o.model.num_classes = 4;
  EXPECT_NO_THROW(o.validate());
  const auto refused = [&](const std::string& what) {
    try {
      o.validate();
    } catch (const mae::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      return true;
    }
    return false;
  };
  o.stride = o.data.transform.crop_h + 1;  // windows with gaps between them
  EXPECT_TRUE(refused("seg.stride must lie in [0, 64]"));
  o.stride = o.data.transform.crop_h;
  EXPECT_NO_THROW(o.validate());
  o.trainer.batch_size = 1;  // UPerHead's 1 x 1 pooling: BatchNorm over one value
  EXPECT_TRUE(refused("train.batch_size >= 2"));
  o.model.head = mae::models::SegHead::kLinear;
  EXPECT_NO_THROW(o.validate());
}

TEST(SegmentationData, TheLossAveragesOverTheLabelledPixelsOrAllAsSet) {
  TempDir dir;
  mae::config::UserSettings user;
  user.sets = {"data.root=" + dir.path(), "model.num_classes=4"};
  EXPECT_TRUE(mae::config::resolve_segment(user).avg_non_ignore);
  user.sets.push_back("seg.avg_non_ignore=false");  // mmseg's CrossEntropyLoss default
  EXPECT_FALSE(mae::config::resolve_segment(user).avg_non_ignore);
}

TEST(SegmentationData, EvaluationFitsTheImageAndKeepsTheLabels) {
  EXPECT_EQ(mae::data::fit_size(683, 512, 2048, 512), (std::pair<int64_t, int64_t>{683, 512}));
  EXPECT_EQ(mae::data::fit_size(300, 400, 2048, 512), (std::pair<int64_t, int64_t>{512, 683}));
  EXPECT_EQ(mae::data::fit_size(100, 4000, 2048, 512), (std::pair<int64_t, int64_t>{51, 2048}));
  const Pattern p = position_pattern();
  auto o = pattern_options();
  o.train = false;
  o.scale_long = o.scale_short = 128;
  SampleRng rng(0);
  const auto s = JointTransform(o).apply(mae::data::parse_image(encode_png(p.image, 2), "p.png"), p.labels, rng);
  EXPECT_EQ(s.image.sizes(), (std::vector<int64_t>{3, 128, 128}));
  EXPECT_TRUE(torch::equal(s.labels, p.labels.to(torch::kInt64)));
}

TEST(SegmentationData, TheLoaderBatchesImagesWithTheirLabelMaps) {
  TempDir dir;
  const Pattern p = position_pattern();
  std::vector<mae::data::SegmentationPair> pairs;
  for (int i = 0; i < 4; ++i) {
    write_bytes(dir.file(std::to_string(i) + ".png"), encode_png(p.image, 2));
    write_bytes(dir.file(std::to_string(i) + "_labels.png"), encode_png(p.labels.unsqueeze(2), 0));
    pairs.push_back({dir.file(std::to_string(i) + ".png"), dir.file(std::to_string(i) + "_labels.png"), "pair"});
  }
  auto samples = std::make_shared<const mae::data::SegmentationSamples>(
      std::make_shared<const mae::data::PairSource>(pairs, false), std::make_shared<const JointTransform>(pattern_options()));
  mae::data::LoaderOptions lo;
  lo.batch_size = 2;
  lo.num_workers = 2;
  mae::data::Loader loader(samples, lo);
  mae::data::Batch batch;
  ASSERT_TRUE(loader.next(&batch));
  EXPECT_EQ(batch.images.sizes(), (std::vector<int64_t>{2, 3, 96, 80}));
  EXPECT_EQ(batch.labels.sizes(), (std::vector<int64_t>{2, 96, 80}));
  EXPECT_EQ(batch.labels.scalar_type(), torch::kInt64);
  EXPECT_LE(batch.labels.max().item<int64_t>(), 255);
}
