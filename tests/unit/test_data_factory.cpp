#include <cmath>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/factory.h"
#include "test_data_files.h"

using mae::data::DataOptions;
using mae::data::Split;
using mae::testing::TempDir;
using mae::testing::write_bytes;

TEST(DataFactory, DefaultsAreFashionMnist) {
  DataOptions c;
  EXPECT_EQ(c.source.kind, mae::data::SourceKind::kIdx);
  EXPECT_EQ(c.source.root, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(c.transform.mean, std::vector<double>{0.2860});
  EXPECT_EQ(c.transform.std, std::vector<double>{0.3530});
  EXPECT_EQ(c.transform.scale_min, 0.2);
  EXPECT_EQ(c.transform.scale_max, 1.0);
  EXPECT_TRUE(c.transform.crop_decode);
}

TEST(DataFactory, AMissingRootIsNamedBeforeAnyFileInIt) {
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kList;
  c.source.root = "/nonexistent/photos";
  c.source.train_files = {"train.txt"};
  c.source.class_names_file = "classes.txt";
  try {
    mae::data::make_source(c.source, Split::kTrain);
    FAIL() << "a missing data.root must be refused";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("data.root '/nonexistent/photos' does not exist"), std::string::npos) << e.what();
  }
}

TEST(DataFactory, MeanStdIsExactOnASmallIdxSet) {
  TempDir dir;
  torch::manual_seed(1);
  const auto pixels = torch::randint(0, 256, {7, 5, 4}, torch::kUInt8);
  mae::testing::write_idx(dir.file("img.idx"), {7, 5, 4},
                          std::vector<uint8_t>(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + 140), false);
  DataOptions c;
  c.source.root = dir.path();
  c.source.train_files = {"img.idx"};
  const auto [mean, std] = mae::data::compute_mean_std(c, Split::kTrain, 1, 0);
  const auto x = pixels.to(torch::kFloat64) / 255.0;
  EXPECT_NEAR(mean[0], x.mean().item<double>(), 1e-12);
  EXPECT_NEAR(std[0], x.std(/*unbiased=*/false).item<double>(), 1e-12);
  // Three channels from a grey source repeat the statistics.
  const auto [mean3, std3] = mae::data::compute_mean_std(c, Split::kTrain, 3, 3);
  EXPECT_EQ(mean3.size(), 3u);
  EXPECT_DOUBLE_EQ(mean3[0], mean3[2]);
  EXPECT_EQ(mae::data::Splits(c.source).num_classes(Split::kTrain), 0);
}

TEST(DataFactory, ListSourceWithJpegsThroughTheLoader) {
  TempDir dir;
  std::string list;
  for (int i = 0; i < 6; ++i) {
    const std::string name = "img/" + std::to_string(i) + (i % 2 ? ".png" : ".jpg");
    const auto pixels = mae::testing::smooth_image(60 + i, 80, 3, i);
    write_bytes(dir.file(name), i % 2 ? mae::testing::encode_png(pixels, 2) : mae::testing::encode_jpeg(pixels));
    list += name + " " + std::to_string(i % 3) + "\n";
  }
  write_bytes(dir.file("train.txt"), list);
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kList;
  c.source.root = dir.path();
  c.source.train_files = {"train.txt"};
  c.transform.mean = {0.5,0.5,0.5};
  c.transform.std = {0.2,0.2,0.2};
  EXPECT_EQ(mae::data::Splits(c.source).num_classes(Split::kTrain), 3);
  mae::data::LoaderOptions o;
  o.batch_size = 3;
  o.num_workers = 2;
  std::vector<torch::Tensor> images;
  for (bool crop_decode : {true, false}) {
    c.transform.crop_decode = crop_decode;
    auto loader = mae::data::make_loader(c, Split::kTrain, 3, 16, 24, o);
    mae::data::Batch b;
    ASSERT_TRUE(loader->next(&b));
    EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{3, 3, 16, 24}));
    images.push_back(b.images);
  }
  // Same crops either way; DCT scaling changes pixels a little, never the picture.
  EXPECT_LT((images[0] - images[1]).abs().mean().item<double>(), 0.1);
  c.source.val_files = {};
  EXPECT_THROW(mae::data::make_loader(c, Split::kVal, 3, 16, 24, o), mae::UsageError);  // no val split
  EXPECT_THROW(mae::data::make_loader(c, Split::kTrain, 1, 16, 24, o), mae::UsageError);  // 3 means, 1 channel
}

TEST(DataFactory, LabelsOutsideTheClassRangeStopAtStartUp) {
  TempDir dir;
  write_bytes(dir.file("list.txt"), "a.jpg 0\nb.jpg 5\n");
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kList;
  c.source.root = dir.path();
  c.source.train_files = {"list.txt"};
  c.source.num_classes = 5;
  try {
    mae::data::make_source(c.source, Split::kTrain);
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("list.txt:2: " + dir.file("b.jpg") + ": label 5 is outside data.num_classes = 5"),
              std::string::npos)
        << e.what();
  }
}

TEST(DataFactory, ClassFolderCountMustMatchNumClasses) {
  TempDir dir;
  write_bytes(dir.file("train/a/1.jpg"), "x");
  write_bytes(dir.file("train/b/1.jpg"), "x");
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kClassFolder;
  c.source.root = dir.path();
  c.source.train_files = {"train"};
  EXPECT_EQ(mae::data::Splits(c.source).class_names(Split::kTrain), (std::vector<std::string>{"a", "b"}));
  c.source.num_classes = 3;
  EXPECT_THROW(mae::data::make_source(c.source, Split::kTrain), mae::UsageError);
}

TEST(DataFactory, CifarNamesComeFromTheBatchesMetaFile) {
  TempDir dir;
  mae::testing::write_cifar(dir.file("test_batch.bin"), torch::zeros({2, 32, 32, 3}, torch::kUInt8), {0, 1}, 1);
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kCifar10;
  c.source.root = dir.path();
  c.source.val_files = {"test_batch.bin"};
  EXPECT_EQ(mae::data::Splits(c.source).class_names(Split::kVal)[0], "airplane");
  EXPECT_EQ(mae::data::Splits(c.source).num_classes(Split::kVal), 10);
  std::string meta;
  for (int i = 0; i < 10; ++i) meta += "class" + std::to_string(i) + "\n";
  write_bytes(dir.file("batches.meta.txt"), meta + "\n\n");
  EXPECT_EQ(mae::data::Splits(c.source).class_names(Split::kVal)[3], "class3");
}

TEST(DataFactory, MeanStdSkipsUnreadableFilesAndConvertsToGrey) {
  TempDir dir;
  const auto a = mae::testing::smooth_image(6, 5, 3, 1), b = mae::testing::smooth_image(4, 7, 3, 2);
  write_bytes(dir.file("imgs/a.png"), mae::testing::encode_png(a, 2));
  write_bytes(dir.file("imgs/b.png"), mae::testing::encode_png(b, 2));
  write_bytes(dir.file("imgs/c.png"), "broken");
  DataOptions c;
  c.source.kind = mae::data::SourceKind::kFolder;
  c.source.root = dir.path();
  c.source.train_files = {"imgs"};
  const auto pixels = [](const torch::Tensor& rgb, int64_t channels) {
    return mae::data::convert_channels(rgb, channels).reshape({-1, channels}).to(torch::kFloat64) / 255.0;
  };
  for (int64_t channels : {1, 3}) {
    const auto all = torch::cat({pixels(a, channels), pixels(b, channels)});
    const auto [mean, std] = mae::data::compute_mean_std(c, Split::kTrain, channels, 0);
    ASSERT_EQ(mean.size(), static_cast<size_t>(channels));
    for (int64_t k = 0; k < channels; ++k) {
      EXPECT_NEAR(mean[k], all.select(1, k).mean().item<double>(), 1e-12);
      EXPECT_NEAR(std[k], all.select(1, k).std(/*unbiased=*/false).item<double>(), 1e-12);
    }
  }
}
