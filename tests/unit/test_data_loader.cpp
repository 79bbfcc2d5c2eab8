#include <atomic>
#include <chrono>
#include <thread>
#include <set>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/loader/loader.h"
#include "mae/data/sources/memory_source.h"
#include "test_data_files.h"

using mae::data::Batch;
using mae::data::Loader;
using mae::data::LoaderOptions;

namespace {

std::shared_ptr<const mae::data::Source> memory_source(int64_t n) {
  torch::manual_seed(0);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(i % 7);
  return std::make_shared<mae::data::MemorySource>(torch::randint(0, 256, {n, 12, 10, 1}, torch::kUInt8), labels,
                                                   std::vector<std::string>{}, "memory");
}

std::shared_ptr<const mae::data::SampleTransform> transform(int64_t size = 8) {
  mae::data::TransformOptions o;
  o.height = o.width = size;
  return std::make_shared<const mae::data::SampleTransform>(o);
}

// The evaluation transform of 16 x 16 RGB samples.
std::shared_ptr<const mae::data::SampleTransform> rgb_transform() {
  mae::data::TransformOptions t;
  t.channels = 3;
  t.height = t.width = 16;
  t.mean = {0.5, 0.5, 0.5};
  t.std = {0.25, 0.25, 0.25};
  return std::make_shared<const mae::data::SampleTransform>(t);
}

std::vector<Batch> epoch(Loader& loader, int64_t e) {
  loader.set_epoch(e);
  std::vector<Batch> batches;
  Batch b;
  while (loader.next(&b)) batches.push_back(b);
  return batches;
}

}  // namespace

TEST(DataLoader, BatchesAreBitIdenticalWhateverTheThreadCount) {
  auto source = memory_source(40);
  std::vector<std::vector<Batch>> runs;
  for (int workers : {1, 2, 3, 5}) {
    LoaderOptions o;
    o.batch_size = 8;
    o.num_workers = workers;
    o.prefetch_batches = workers == 3 ? 1 : 3;
    o.seed = 9;
    Loader loader(source, transform(), o);
    EXPECT_EQ(loader.num_workers(), workers);
    auto e0 = epoch(loader, 0), e1 = epoch(loader, 1);
    e0.insert(e0.end(), e1.begin(), e1.end());
    runs.push_back(e0);
  }
  ASSERT_EQ(runs[0].size(), 10u);
  for (size_t r = 1; r < runs.size(); ++r) {
    for (size_t b = 0; b < runs[0].size(); ++b) {
      ASSERT_TRUE(torch::equal(runs[r][b].images, runs[0][b].images)) << "run " << r << " batch " << b;
      ASSERT_TRUE(torch::equal(runs[r][b].indices, runs[0][b].indices));
      ASSERT_TRUE(torch::equal(runs[r][b].labels, runs[0][b].labels));
    }
  }
  // Epoch 1 is another permutation with other crops.
  EXPECT_FALSE(torch::equal(runs[0][0].indices, runs[0][5].indices));
}

TEST(DataLoader, AnEpochCoversTheShardWithMatchingLabels) {
  auto source = memory_source(42);
  LoaderOptions o;
  o.batch_size = 8;
  o.num_workers = 2;
  o.drop_last = false;
  Loader loader(source, transform(), o);
  EXPECT_EQ(loader.batches_per_epoch(), 6);
  const auto batches = epoch(loader, 3);
  ASSERT_EQ(batches.size(), 6u);
  EXPECT_EQ(batches.back().images.sizes(), (std::vector<int64_t>{2, 1, 8, 8}));
  std::set<int64_t> seen;
  for (const auto& b : batches) {
    EXPECT_EQ(b.images.scalar_type(), torch::kFloat32);
    for (int64_t i = 0; i < b.indices.size(0); ++i) {
      const int64_t index = b.indices[i].item<int64_t>();
      seen.insert(index);
      EXPECT_EQ(b.labels[i].item<int64_t>(), index % 7);
    }
  }
  EXPECT_EQ(seen.size(), 42u);
  Batch extra;
  EXPECT_FALSE(loader.next(&extra));  // the epoch has ended
  // Batches are ordinary tensors for autograd (a conv saves its input for backward).
  auto weight = torch::randn({4, 1, 3, 3}, torch::requires_grad());
  torch::conv2d(batches[0].images, weight).sum().backward();
  EXPECT_TRUE(weight.grad().defined());
  EXPECT_GE(loader.wait_seconds(), 0.0);
}

TEST(DataLoader, RanksReadDisjointShards) {
  auto source = memory_source(40);
  std::set<int64_t> seen;
  for (int64_t rank = 0; rank < 4; ++rank) {
    LoaderOptions o;
    o.batch_size = 5;
    o.rank = rank;
    o.world_size = 4;
    o.seed = 1;
    Loader loader(source, transform(), o);
    EXPECT_EQ(loader.batches_per_epoch(), 2);
    for (const auto& b : epoch(loader, 0)) {
      for (int64_t i = 0; i < b.indices.size(0); ++i) EXPECT_TRUE(seen.insert(b.indices[i].item<int64_t>()).second);
    }
  }
  EXPECT_EQ(seen.size(), 40u);
}

TEST(DataLoader, SetEpochRestartsMidEpoch) {
  auto source = memory_source(64);
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  Loader loader(source, transform(), o);
  Batch first, again, b;
  ASSERT_TRUE(loader.next(&first));  // starts epoch 0 by itself
  ASSERT_TRUE(loader.next(&b));
  loader.set_epoch(0);
  ASSERT_TRUE(loader.next(&again));
  EXPECT_TRUE(torch::equal(first.images, again.images));
  EXPECT_TRUE(torch::equal(first.indices, again.indices));
}

TEST(DataLoader, TooSmallAShardIsAUsageError) {
  LoaderOptions o;
  o.batch_size = 64;
  EXPECT_THROW(Loader(memory_source(40), transform(), o), mae::UsageError);
  o.batch_size = 0;
  EXPECT_THROW(Loader(memory_source(40), transform(), o), mae::UsageError);
}

TEST(DataLoader, UnreadableFilesAreSkippedCountedAndReplaced) {
  mae::testing::TempDir dir;
  std::string list;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "img" + std::to_string(i) + ".jpg";
    if (i == 3) {
      mae::testing::write_bytes(dir.file(name), "not an image");
    } else if (i == 7) {
      const auto jpeg = mae::testing::encode_jpeg(mae::testing::smooth_image(40, 40, 3, i));
      // Truncated just after the start of scan: no row of pixels is complete.
      mae::testing::write_bytes(dir.file(name), jpeg.substr(0, jpeg.find("\xFF\xDA") + 20));
    } else if (i != 5) {  // img5.jpg is missing
      mae::testing::write_bytes(dir.file(name), mae::testing::encode_jpeg(mae::testing::smooth_image(40, 40, 3, i)));
    }
    list += name + "\n";
  }
  mae::testing::write_bytes(dir.file("list.txt"), list);
  std::shared_ptr<const mae::data::Source> source = mae::data::read_image_lists(dir.path(), {"list.txt"});
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  o.shuffle = false;
  Loader loader(source, rgb_transform(), o);
  int64_t samples = 0;
  for (int e = 0; e < 2; ++e) {
    for (const auto& b : epoch(loader, e)) {
      EXPECT_EQ(b.images.size(0), 4);
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t index = b.indices[i].item<int64_t>();
        EXPECT_TRUE(index != 3 && index != 5 && index != 7) << index;
        EXPECT_GT(b.images[i].abs().sum().item<float>(), 0.0f);  // no silent zero image
        ++samples;
      }
    }
  }
  EXPECT_EQ(samples, 24);
  EXPECT_EQ(loader.skipped_samples(), 6);  // three bad files, two epochs
  EXPECT_NE(source->describe(5).find("list.txt:6: "), std::string::npos) << source->describe(5);
}

TEST(DataLoader, WithoutReplacementAnUnreadableSampleKeepsItsRowFlagged) {
  mae::testing::TempDir dir;
  std::string list;
  for (int i = 0; i < 6; ++i) {
    const std::string name = "img" + std::to_string(i) + ".jpg";
    mae::testing::write_bytes(dir.file(name), i == 2 ? std::string("not an image")
                                                     : mae::testing::encode_jpeg(mae::testing::smooth_image(40, 40, 3, i)));
    list += name + "\n";
  }
  mae::testing::write_bytes(dir.file("list.txt"), list);
  std::shared_ptr<const mae::data::Source> source = mae::data::read_image_lists(dir.path(), {"list.txt"});
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  o.shuffle = o.drop_last = false;
  o.replace_unreadable = false;  // evaluation, predict, embed
  Loader loader(source, rgb_transform(), o);
  const auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  const Batch& b = batches[0];
  // Every row holds its own dataset index; row 2 is flagged, zero and unlabelled.
  EXPECT_TRUE(torch::equal(b.indices, torch::arange(4, torch::kInt64)));
  ASSERT_TRUE(b.readable.defined());
  EXPECT_TRUE(torch::equal(b.readable, torch::tensor({true, true, false, true})));
  EXPECT_EQ(b.images[2].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(b.labels[2].item<int64_t>(), -1);
  const auto unreadable = loader.unreadable_samples();
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_NE(unreadable.at(2).find("img2.jpg"), std::string::npos) << unreadable.at(2);
  EXPECT_EQ(loader.skipped_samples(), 1);
  // readable_rows keeps the other three, in order.
  const Batch kept = mae::data::readable_rows(b);
  EXPECT_TRUE(torch::equal(kept.indices, torch::tensor({0, 1, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(kept.images, b.images.index_select(0, torch::tensor({0, 1, 3}, torch::kInt64))));
  EXPECT_TRUE(batches[1].readable.all().item<bool>());
}

TEST(DataLoader, ADatasetOfOnlyBadFilesFailsInsteadOfHanging) {
  mae::testing::TempDir dir;
  mae::testing::write_bytes(dir.file("list.txt"), "a.jpg\nb.jpg\n");
  std::shared_ptr<const mae::data::Source> source = mae::data::read_image_lists(dir.path(), {"list.txt"});
  LoaderOptions o;
  o.batch_size = 2;
  o.num_workers = 2;
  Loader loader(source, transform(), o);
  Batch b;
  EXPECT_THROW(loader.next(&b), mae::Error);
}

namespace {

// Records whether LibTorch's kernels could start threads of their own while a sample loads.
class RecordingSource : public mae::data::MemorySource {
 public:
  using MemorySource::MemorySource;
  mae::data::RawImage open(int64_t index) const override {
    if (at::get_num_threads() != 1) fans_out_.store(true);
    return MemorySource::open(index);
  }
  mutable std::atomic<bool> fans_out_{false};
};

}  // namespace

TEST(DataLoader, WorkersKeepLibTorchSingleThreaded) {
  auto source = std::make_shared<RecordingSource>(torch::zeros({16, 8, 8, 1}, torch::kUInt8), std::vector<int64_t>{},
                                                  std::vector<std::string>{}, "zeros");
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  at::set_num_threads(2);
  Loader loader(source, transform(), o);
  epoch(loader, 0);
  EXPECT_FALSE(source->fans_out_.load()) << "interpolate inside a worker would start its own OpenMP threads";
  EXPECT_EQ(at::get_num_threads(), 2);  // the process setting is untouched
}

namespace {

class CountingSource : public mae::data::MemorySource {
 public:
  using MemorySource::MemorySource;
  mae::data::RawImage open(int64_t index) const override {
    opened_.fetch_add(1);
    return MemorySource::open(index);
  }
  mutable std::atomic<int64_t> opened_{0};
};

}  // namespace

// With drop_last the short tail batch is never delivered; its samples must not be decoded either
// (they were: up to batch_size - 1 wasted decodes per epoch, charged to whatever ran next).
TEST(DataLoader, DropLastReadsOnlyTheSamplesOfFullBatches) {
  auto source = std::make_shared<CountingSource>(torch::zeros({21, 8, 8, 1}, torch::kUInt8), std::vector<int64_t>{},
                                                 std::vector<std::string>{}, "zeros");
  for (bool drop_last : {true, false}) {
    source->opened_.store(0);
    LoaderOptions o;
    o.batch_size = 8;
    o.num_workers = 2;
    o.drop_last = drop_last;
    {
      Loader loader(source, transform(), o);
      const auto batches = epoch(loader, 0);
      EXPECT_EQ(static_cast<int64_t>(batches.size()), drop_last ? 2 : 3);
      EXPECT_EQ(loader.samples_per_epoch(), drop_last ? 16 : 21);
    }  // the destructor joins the workers: every read they started is counted
    EXPECT_EQ(source->opened_.load(), drop_last ? 16 : 21) << "drop_last " << drop_last;
  }
}

// uint8 batches (for CUDA: a quarter of the bytes to copy) normalised by data::to_device are the
// float32 batches, bit for bit: grey and RGB, flips and crops included, and RandAugment's uint8 output.
TEST(DataLoader, Uint8BatchesNormaliseToTheFloatBatches) {
  torch::manual_seed(3);
  for (int64_t channels : {1, 3}) {
    for (bool augment : {false, true}) {
      auto source = std::make_shared<mae::data::MemorySource>(torch::randint(0, 256, {24, 19, 23, channels}, torch::kUInt8),
                                                              std::vector<int64_t>(24, 0), std::vector<std::string>{}, "memory");
      mae::data::TransformOptions t;
      t.channels = channels;
      t.height = t.width = 12;
      t.mean = std::vector<double>(static_cast<size_t>(channels), 0.3);
      t.std = std::vector<double>(static_cast<size_t>(channels), 0.27);
      if (channels == 3) t.mean = {0.485, 0.456, 0.406}, t.std = {0.229, 0.224, 0.225};
      if (augment) t.auto_augment = "rand-m9-mstd0.5-inc1";
      auto transform = std::make_shared<const mae::data::SampleTransform>(t);
      LoaderOptions o;
      o.batch_size = 8;
      o.num_workers = 2;
      o.seed = 5;
      Loader floats(source, transform, o);
      o.uint8_images = true;
      Loader bytes(source, transform, o);
      const auto f = epoch(floats, 1), b = epoch(bytes, 1);
      ASSERT_EQ(f.size(), b.size());
      for (size_t i = 0; i < f.size(); ++i) {
        ASSERT_EQ(b[i].images.scalar_type(), torch::kUInt8);
        ASSERT_TRUE(b[i].normalize);
        const Batch moved = mae::data::to_device(b[i], torch::kCPU);
        EXPECT_FALSE(moved.normalize);
        ASSERT_EQ(moved.images.scalar_type(), torch::kFloat32);
        EXPECT_TRUE(torch::equal(moved.images, f[i].images)) << channels << " channels, augment " << augment << ", batch " << i;
        EXPECT_TRUE(torch::equal(b[i].indices, f[i].indices));
      }
    }
  }
}

TEST(DataLoader, Uint8BatchesRefuseRandomErasingAndDeeperImages) {
  mae::data::TransformOptions t;
  t.height = t.width = 8;
  t.reprob = 0.25;
  LoaderOptions o;
  o.batch_size = 4;
  o.uint8_images = true;
  EXPECT_THROW(Loader(memory_source(8), std::make_shared<const mae::data::SampleTransform>(t), o), mae::UsageError);
  // A 16-bit image in a run of uint8 batches stops it, naming the setting (it is not skipped).
  auto deep = std::make_shared<mae::data::MemorySource>(torch::randint(0, 65535, {8, 12, 10, 1}, torch::kInt32).to(torch::kUInt16),
                                                        std::vector<int64_t>(8, 0), std::vector<std::string>{}, "memory");
  Loader loader(deep, transform(), o);
  Batch b;
  try {
    loader.next(&b);
    FAIL() << "a 16-bit image became a uint8 batch";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("data.uint8_batches=false"), std::string::npos) << e.what();
  }
}

// With prefetch_next_epoch the workers read into the next epoch while the trainer finishes this one;
// the batches are the same as without it, and set_epoch(e + 1) keeps them (or drops them for a
// restart elsewhere).
TEST(DataLoader, PrefetchingTheNextEpochChangesNoBatch) {
  auto source = memory_source(40);
  LoaderOptions o;
  o.batch_size = 8;
  o.num_workers = 3;
  o.prefetch_batches = 3;
  o.seed = 2;
  Loader plain(source, transform(), o);
  o.prefetch_next_epoch = true;
  Loader ahead(source, transform(), o);
  std::vector<std::pair<int64_t, int64_t>> plan{{0, 0}, {1, 0}, {2, 0}, {2, 3}, {3, 0}, {7, 0}, {8, 2}, {9, 0}};
  for (auto [e, first] : plan) {
    plain.set_epoch(e, first);
    ahead.set_epoch(e, first);
    Batch a, b;
    int64_t count = 0;
    while (plain.next(&a)) {
      ASSERT_TRUE(ahead.next(&b));
      ASSERT_TRUE(torch::equal(a.images, b.images)) << "epoch " << e << " batch " << first + count;
      ASSERT_TRUE(torch::equal(a.indices, b.indices));
      ++count;
      // Let the workers run ahead into the next epoch before it is asked for.
      if (first + count == plain.batches_per_epoch()) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    EXPECT_FALSE(ahead.next(&b));
    EXPECT_EQ(first + count, plain.batches_per_epoch());
  }
}

TEST(DataLoader, TheNextEpochIsReadBeforeItIsAskedFor) {
  auto source = std::make_shared<CountingSource>(torch::randint(0, 256, {40, 12, 10, 1}, torch::kUInt8),
                                                 std::vector<int64_t>(40, 0), std::vector<std::string>{}, "memory");
  LoaderOptions o;
  o.batch_size = 8;
  o.num_workers = 2;
  o.prefetch_batches = 3;
  o.prefetch_next_epoch = true;
  Loader loader(source, transform(), o);
  const auto first = epoch(loader, 0);
  ASSERT_EQ(first.size(), 5u);
  // Epoch 0 is consumed; the workers go on with epoch 1's first 3 batches (24 samples).
  for (int i = 0; i < 500 && source->opened_ < 64; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(source->opened_, 64);
  const auto second = epoch(loader, 1);
  EXPECT_EQ(second.size(), 5u);
  EXPECT_GE(source->opened_, 80);
  EXPECT_FALSE(torch::equal(first[0].indices, second[0].indices));
}
