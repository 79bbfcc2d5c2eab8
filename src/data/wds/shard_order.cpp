#include "mae/data/wds/shard_order.h"

#include <algorithm>

#include "mae/core/error.h"
#include "mae/core/rng.h"
#include "mae/data/loader/sampler.h"

namespace mae::data {
namespace {
constexpr uint64_t kPassStream = 0x50415353ull;    // "PASS"
constexpr uint64_t kBufferStream = 0x42554646ull;  // "BUFF"
}  // namespace

int64_t streams_per_rank(int64_t num_shards, int64_t world_size, int64_t wanted) {
  MAE_CHECK_USAGE(num_shards >= world_size, "data.source=wds: ", num_shards, " shard(s) for ", world_size,
                  " ranks; every rank needs at least one shard: write more, smaller shards (mae pack --shard-size)");
  return std::clamp<int64_t>(num_shards / world_size, 1, std::max<int64_t>(wanted, 1));
}

std::vector<int64_t> stream_shards(int64_t num_shards, int64_t epoch, const StreamPlan& plan, int64_t stream,
                                   int64_t pass) {
  MAE_CHECK(plan.rank >= 0 && plan.rank < plan.world_size && stream >= 0 && stream < plan.streams,
            "stream_shards: rank ", plan.rank, " / stream ", stream, " outside the plan");
  ShardOptions permutation;
  permutation.seed = plan.seed;
  permutation.shuffle = plan.shuffle;
  permutation.drop_last = false;
  const auto order = shard_indices(num_shards, epoch, permutation);
  const int64_t readers = plan.world_size * plan.streams;
  std::vector<int64_t> mine;
  for (int64_t p = plan.rank * plan.streams + stream; p < num_shards; p += readers) mine.push_back(order[p]);
  if (pass == 0 || !plan.shuffle) return mine;
  ShardOptions reshuffle = permutation;  // a permutation of this stream's shards, drawn per pass
  reshuffle.seed = core::derive_seed(plan.seed, {kPassStream, static_cast<uint64_t>(plan.rank), static_cast<uint64_t>(stream),
                                                 static_cast<uint64_t>(pass)});
  std::vector<int64_t> again;
  for (int64_t i : shard_indices(static_cast<int64_t>(mine.size()), epoch, reshuffle)) again.push_back(mine[i]);
  return again;
}

uint64_t stream_seed(int64_t epoch, const StreamPlan& plan, int64_t stream) {
  return core::derive_seed(plan.seed, {static_cast<uint64_t>(epoch), kBufferStream, static_cast<uint64_t>(plan.rank),
                                       static_cast<uint64_t>(stream)});
}

}  // namespace mae::data
