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
  bool pad = true;  // without drop_last: equal shards by repeating samples (false: uneven shards, no repeats)
};

// Samples one rank reads per epoch: floor(N / world) with drop_last, else ceil(N / world); with
// neither drop_last nor pad, ceil((N - rank) / world).
int64_t shard_size(int64_t dataset_size, const ShardOptions& options);

// The permutation of 0..N-1 for `epoch` (identity when !shuffle), padded or cut to a multiple of
// world_size, then positions rank, rank + world_size, ...  Throws UsageError on a bad rank.
std::vector<int64_t> shard_indices(int64_t dataset_size, int64_t epoch, const ShardOptions& options);

}  // namespace mae::data
