// The built-in default data, Fashion-MNIST from Debian's dataset-fashion-mnist package, read as the
// defaults read it. Integration tests alone may use an installed data set; these skip without it.
#include <filesystem>

#include <gtest/gtest.h>

#include "mae/data/factory.h"
#include "mae/data/sources/memory_source.h"

using mae::data::DataOptions;
using mae::data::Split;

namespace {

bool have_fashion_mnist() { return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"); }

}  // namespace

TEST(FashionMnist, TheDebianPackageReads) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  auto source = mae::data::load_idx(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz",
                                    mae::data::fashion_mnist_class_names());
  EXPECT_EQ(source->size(), 10000);
  EXPECT_EQ(source->num_classes(), 10);
  EXPECT_EQ(source->images().sizes(), (std::vector<int64_t>{10000, 28, 28, 1}));
  EXPECT_EQ(source->label(0), 9);  // the first test image is an ankle boot
}

TEST(FashionMnist, TheDefaultsReadTheValSplit) {
  DataOptions c;
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  EXPECT_EQ(mae::data::Splits(c.source).num_classes(Split::kVal), 10);
  EXPECT_EQ(mae::data::Splits(c.source).class_names(Split::kVal)[9], "Ankle boot");
  c.transform.eval_resize_ratio = 1;  // whole images, so the batch has the set's statistics
  mae::data::LoaderOptions o = mae::data::loader_options(c, Split::kVal);
  EXPECT_FALSE(o.shuffle);
  o.batch_size = 500;
  o.num_workers = 2;
  auto loader = mae::data::make_loader(c, Split::kVal, 1, 28, 28, o);
  EXPECT_EQ(loader->dataset_size(), 10000);
  mae::data::Batch b;
  ASSERT_TRUE(loader->next(&b));
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{500, 1, 28, 28}));
  // Normalised with the set's own statistics: mean near 0, std near 1.
  EXPECT_NEAR(b.images.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(b.images.std().item<double>(), 1.0, 0.05);
  EXPECT_GE(b.labels.min().item<int64_t>(), 0);
  EXPECT_LE(b.labels.max().item<int64_t>(), 9);
}

TEST(FashionMnist, StatisticsMatchTheDefaults) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  DataOptions c;
  c.num_workers = 2;
  const auto [mean, std] = mae::data::compute_mean_std(c, Split::kTrain, 1, 0);
  EXPECT_NEAR(mean[0], 0.2860, 5e-4);
  EXPECT_NEAR(std[0], 0.3530, 5e-4);
}
