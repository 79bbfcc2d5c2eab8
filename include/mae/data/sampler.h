// Which dataset indices one rank reads in one epoch, in order: torch's DistributedSampler semantics
// (see loader.h for the drop_last / pad rules).
#pragma once

#include <cstdint>
#include <vector>

namespace mae::data {

struct ShardOptions {
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = true;
  int64_t rank = 0, world_size = 1;
};

// Samples one rank reads per epoch: floor(N / world) with drop_last, else ceil(N / world).
int64_t shard_size(int64_t dataset_size, const ShardOptions& options);

// The permutation of 0..N-1 for `epoch` (identity when !shuffle), padded or cut to a multiple of
// world_size, then positions rank, rank + world_size, ...  Throws UsageError on a bad rank.
std::vector<int64_t> shard_indices(int64_t dataset_size, int64_t epoch, const ShardOptions& options);

}  // namespace mae::data
