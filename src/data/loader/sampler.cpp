#include "mae/data/loader/sampler.h"

#include <algorithm>
#include <numeric>

#include "mae/core/error.h"
#include "mae/data/augment/sample_rng.h"

namespace mae::data {
namespace {
constexpr uint64_t kShuffleStream = 0x5348554646ull;  // "SHUFF"
}

int64_t shard_size(int64_t dataset_size, const ShardOptions& options) {
  MAE_CHECK_USAGE(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
                  "data sharding: rank ", options.rank, " is outside world size ", options.world_size);
  if (options.drop_last) return dataset_size / options.world_size;
  if (!options.pad) return (std::max<int64_t>(dataset_size - options.rank, 0) + options.world_size - 1) / options.world_size;
  return (dataset_size + options.world_size - 1) / options.world_size;
}

std::vector<int64_t> shard_indices(int64_t dataset_size, int64_t epoch, const ShardOptions& options) {
  const int64_t per_rank = shard_size(dataset_size, options);
  std::vector<int64_t> order(static_cast<size_t>(dataset_size));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (options.shuffle) {
    // Fisher-Yates from a stream of (seed, epoch) alone: every rank draws the same permutation.
    SampleRng rng = SampleRng::for_sample(options.seed, epoch, -1, kShuffleStream);
    for (int64_t i = dataset_size - 1; i > 0; --i) std::swap(order[i], order[rng.randint(0, i + 1)]);
  }
  std::vector<int64_t> shard;
  shard.reserve(static_cast<size_t>(per_rank));
  for (int64_t k = 0; k < per_rank; ++k) {
    const int64_t position = options.rank + k * options.world_size;
    shard.push_back(order[position % dataset_size]);  // wraps around only when padding
  }
  return shard;
}

}  // namespace mae::data
