#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/sources/memory_source.h"
#include "test_data_files.h"

using mae::testing::TempDir;

TEST(DataCifar, Cifar10RecordsBecomeHwcImagesInFileOrder) {
  TempDir dir;
  torch::manual_seed(0);
  const auto a = torch::randint(0, 256, {3, 32, 32, 3}, torch::kUInt8);
  const auto b = torch::randint(0, 256, {2, 32, 32, 3}, torch::kUInt8);
  mae::testing::write_cifar(dir.file("data_batch_1.bin"), a, {0, 9, 4}, 1);
  mae::testing::write_cifar(dir.file("data_batch_2.bin"), b, {7, 1}, 1);
  auto source = mae::data::load_cifar({dir.file("data_batch_1.bin"), dir.file("data_batch_2.bin")},
                                      mae::data::CifarKind::kCifar10, mae::data::cifar10_class_names());
  ASSERT_EQ(source->size(), 5);
  EXPECT_EQ(source->num_classes(), 10);
  EXPECT_EQ(source->label(1), 9);
  EXPECT_EQ(source->label(3), 7);
  EXPECT_TRUE(torch::equal(source->open(1).pixels, a[1]));
  EXPECT_TRUE(torch::equal(source->open(4).pixels, b[1]));
  EXPECT_EQ(source->class_names()[9], "truck");
}

TEST(DataCifar, Cifar100UsesFineLabels) {
  TempDir dir;
  const auto images = torch::zeros({2, 32, 32, 3}, torch::kUInt8);
  mae::testing::write_cifar(dir.file("train.bin"), images, {42, 3}, 2);
  auto source = mae::data::load_cifar({dir.file("train.bin")}, mae::data::CifarKind::kCifar100);
  EXPECT_EQ(source->label(0), 42);
  EXPECT_EQ(source->label(1), 3);
}

TEST(DataCifar, WrongRecordSizeOrLabelIsAUsageError) {
  TempDir dir;
  const auto images = torch::zeros({2, 32, 32, 3}, torch::kUInt8);
  // CIFAR-100 records read as CIFAR-10: the size is not a multiple of 3073.
  mae::testing::write_cifar(dir.file("c100.bin"), images, {1, 2}, 2);
  EXPECT_THROW(mae::data::load_cifar({dir.file("c100.bin")}, mae::data::CifarKind::kCifar10), mae::UsageError);
  mae::testing::write_cifar(dir.file("bad_label.bin"), images, {12, 2}, 1);
  try {
    mae::data::load_cifar({dir.file("bad_label.bin")}, mae::data::CifarKind::kCifar10);
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("record 0 has label 12"), std::string::npos) << e.what();
  }
}
