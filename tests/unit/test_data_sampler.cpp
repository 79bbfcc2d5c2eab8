#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/augment/sample_rng.h"
#include "mae/data/loader/sampler.h"

using mae::data::ShardOptions;

TEST(DataSampler, ShardsPartitionOnePermutation) {
  ShardOptions o;
  o.seed = 5;
  o.world_size = 3;
  o.drop_last = true;
  std::multiset<int64_t> seen;
  for (int64_t rank = 0; rank < 3; ++rank) {
    o.rank = rank;
    const auto shard = mae::data::shard_indices(10, 4, o);
    EXPECT_EQ(shard.size(), 3u);  // floor(10 / 3)
    seen.insert(shard.begin(), shard.end());
  }
  EXPECT_EQ(seen.size(), 9u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 9u);  // disjoint
}

TEST(DataSampler, PaddingRepeatsTheFirstSamplesLikeDistributedSampler) {
  ShardOptions o;
  o.shuffle = false;
  o.drop_last = false;
  o.world_size = 4;
  std::vector<std::vector<int64_t>> shards;
  for (int64_t rank = 0; rank < 4; ++rank) {
    o.rank = rank;
    shards.push_back(mae::data::shard_indices(10, 0, o));
  }
  // Padded to 12: 0..9, 0, 1; rank r reads r, r + 4, r + 8.
  EXPECT_EQ(shards[0], (std::vector<int64_t>{0, 4, 8}));
  EXPECT_EQ(shards[1], (std::vector<int64_t>{1, 5, 9}));
  EXPECT_EQ(shards[2], (std::vector<int64_t>{2, 6, 0}));
  EXPECT_EQ(shards[3], (std::vector<int64_t>{3, 7, 1}));
  EXPECT_EQ(mae::data::shard_size(10, o), 3);
  o.rank = 4;
  EXPECT_THROW(mae::data::shard_indices(10, 0, o), mae::UsageError);
}

TEST(DataSampler, UnpaddedShardsCoverEverySampleOnceForEvaluation) {
  ShardOptions o;
  o.seed = 3;
  o.drop_last = false;
  o.pad = false;
  o.world_size = 4;
  std::vector<int64_t> all;
  std::vector<int64_t> sizes;
  for (int64_t rank = 0; rank < 4; ++rank) {
    o.rank = rank;
    const auto shard = mae::data::shard_indices(10, 1, o);
    EXPECT_EQ(static_cast<int64_t>(shard.size()), mae::data::shard_size(10, o));
    sizes.push_back(static_cast<int64_t>(shard.size()));
    all.insert(all.end(), shard.begin(), shard.end());
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 2, 2}));
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(10);
  for (int64_t i = 0; i < 10; ++i) expected[i] = i;
  EXPECT_EQ(all, expected);  // each of the 10 samples exactly once
  o.world_size = 16;  // more ranks than samples: the last ranks read nothing
  o.rank = 12;
  EXPECT_TRUE(mae::data::shard_indices(10, 1, o).empty());
}

TEST(DataSampler, ShuffleDependsOnSeedAndEpochOnly) {
  ShardOptions o;
  o.seed = 1;
  const auto a = mae::data::shard_indices(100, 0, o);
  EXPECT_EQ(a, mae::data::shard_indices(100, 0, o));
  EXPECT_NE(a, mae::data::shard_indices(100, 1, o));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(sorted[i], i);
  o.seed = 2;
  EXPECT_NE(a, mae::data::shard_indices(100, 0, o));
}

TEST(DataSampler, SampleRngIsUniformAndReproducible) {
  mae::data::SampleRng a(42), b(42);
  double sum = 0;
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 50000; ++i) {
    const double u = a.uniform();
    ASSERT_EQ(u, b.uniform());
    ASSERT_TRUE(u >= 0 && u < 1);
    sum += u;
    ++counts[a.randint(0, 5)];
    b.randint(0, 5);
  }
  EXPECT_NEAR(sum / 50000, 0.5, 0.01);
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_NE(mae::data::SampleRng::for_sample(0, 0, 1).next_u64(), mae::data::SampleRng::for_sample(0, 1, 1).next_u64());
}
