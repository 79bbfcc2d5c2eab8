// The order in which a WebDataset split is read, a pure function of (seed, epoch, rank, world size,
// streams per rank): the epoch's permutation of the shards (sampler.h's, drawn from (seed, epoch))
// is dealt round-robin to the world_size x streams readers, stream s of rank r taking positions
// r * streams + s, r * streams + s + world_size * streams, ...  Each stream reads its shards in
// turn through a shuffle buffer (emptied at the end of each pass, so a pass yields each sample
// once); when its shards run dry before the epoch's quota it reads them again in a new order
// (pass 1, 2, ...), as webdataset's `.repeat().with_epoch(n)` does.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "mae/data/augment/sample_rng.h"

namespace mae::data {

struct StreamPlan {
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t rank = 0, world_size = 1;
  int64_t streams = 1;  // per rank
};

// The streams per rank for `wanted` (a loader's threads): at most num_shards / world_size, so that
// every stream has a shard. Throws UsageError when there are fewer shards than ranks.
int64_t streams_per_rank(int64_t num_shards, int64_t world_size, int64_t wanted);

// Shard numbers (0..num_shards-1) that stream `stream` of plan.rank reads in `epoch`, pass `pass`
// (0: the epoch's deal; later passes: the same shards, reshuffled per pass).
std::vector<int64_t> stream_shards(int64_t num_shards, int64_t epoch, const StreamPlan& plan, int64_t stream,
                                   int64_t pass = 0);

// Seed of one stream's shuffle buffer in one epoch.
uint64_t stream_seed(int64_t epoch, const StreamPlan& plan, int64_t stream);

// webdataset's shuffle: holds up to `capacity` items; each item pushed beyond that evicts a random
// held one. capacity 0 passes items straight through.
template <typename T>
class ShuffleBuffer {
 public:
  ShuffleBuffer(size_t capacity, uint64_t seed) : capacity_(capacity), rng_(seed) {}
  // Adds `item`; returns the evicted one once more than `capacity` are held.
  std::optional<T> push(T item) {
    items_.push_back(std::move(item));
    if (items_.size() <= capacity_) return std::nullopt;
    return take();
  }
  // At the end of the input: a random held item, none when empty.
  std::optional<T> pop() {
    if (items_.empty()) return std::nullopt;
    return take();
  }
  size_t size() const { return items_.size(); }

 private:
  T take() {
    const auto j = static_cast<size_t>(rng_.randint(0, static_cast<int64_t>(items_.size())));
    std::swap(items_[j], items_.back());
    T out = std::move(items_.back());
    items_.pop_back();
    return out;
  }
  size_t capacity_;
  SampleRng rng_;
  std::vector<T> items_;
};

}  // namespace mae::data
