// The loader of a WebDataset split (data.source=wds, train): each worker thread reads one stream of
// shards sequentially through a shuffle buffer (shard_order.h) and builds whole batches; batch b
// comes from stream b % streams, as PyTorch's DataLoader takes the batches of its workers in turn.
// So the batches are a pure function of (seed, epoch, rank, world size, streams), and a resume at
// batch k re-reads each stream up to its share of the first k batches without decoding it.
//
// Epoch length: every rank yields floor(N / (world_size x batch_size)) batches (N from the shard
// index), each stream an equal share; a stream whose shards run dry first reads them again
// reshuffled, and what a stream holds past its share waits for the next epoch's deal, as
// webdataset's `.repeat().with_epoch(n)`.
// An unreadable sample (a corrupt image, no image member, a bad label) is counted, logged once and
// its row filled with a copy of another row of the same batch, so the stream positions, and the
// resume, stay exact. A truncated or corrupt shard ends with a warning naming it; the stream goes on
// with its next shard.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mae/data/loader/batch_buffers.h"
#include "mae/data/loader/batch_source.h"
#include "mae/data/loader/loader.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/data/wds/wds_shards.h"

namespace mae::data {

struct ShardStreamOptions {
  int64_t shuffle_buffer = 1000;  // samples per stream (data.wds_shuffle_buffer); 0: shard order only
  std::string label_field = "label";
};

class ShardLoader : public BatchSource {
 public:
  // options: batch_size, num_workers (the streams wanted; fewer when there are fewer shards per
  // rank), prefetch_batches, seed, shuffle, rank, world_size, pin_memory; drop_last is implied.
  ShardLoader(ShardSet shards, std::shared_ptr<const SampleTransform> transform, LoaderOptions options,
              ShardStreamOptions stream_options);
  ~ShardLoader() override;
  ShardLoader(const ShardLoader&) = delete;
  ShardLoader& operator=(const ShardLoader&) = delete;

  void set_epoch(int64_t epoch, int64_t first_batch = 0) override;
  bool next(Batch* out) override;
  int64_t batches_per_epoch() const override { return batches_per_epoch_; }
  int64_t dataset_size() const override { return shards_.samples(); }
  double wait_seconds() const override;
  int64_t skipped_samples() const override;
  int64_t streams() const { return streams_; }

 private:
  class Stream;
  void worker_loop(int64_t stream);
  Batch build_batch(Stream& stream, int64_t epoch);
  void note_skip(const std::string& origin, const std::string& reason);

  ShardSet shards_;
  std::vector<int64_t> first_samples_;
  std::shared_ptr<const SampleTransform> transform_;
  LoaderOptions options_;
  ShardStreamOptions stream_options_;
  int64_t streams_ = 1;
  int64_t batches_per_epoch_ = 0;
  std::shared_ptr<const DeviceNormalize> normalize_;  // uint8_images
  std::unique_ptr<BatchBuffers> buffers_;  // [batch_size, C, H, W]

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  bool started_ = false;
  uint64_t generation_ = 0;  // bumped by set_epoch; streams restart, stale batches are dropped
  int64_t epoch_ = 0;
  int64_t first_batch_ = 0;
  int64_t consumed_ = 0;  // batches returned by next()
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  double wait_seconds_ = 0;
  int64_t skipped_ = 0;
  std::set<std::string> logged_bad_;
};

}  // namespace mae::data
