// The threaded loader: worker threads read, decode and transform samples into a bounded queue of
// batches. Every sample's random state comes from (seed, epoch, dataset index), so a batch is
// bit-identical whatever the number of threads.
//
// Sharding follows torch's DistributedSampler: the epoch's permutation of the whole dataset is
// split round-robin over ranks (rank r reads positions r, r + world_size, ...).
//   drop_last = true:  each rank reads floor(N / world_size) samples (the permutation's tail is
//                      dropped, a different tail each epoch) and only full batches;
//   drop_last = false: each rank reads ceil(N / world_size) samples (the permutation is padded with
//                      its own first samples, so up to world_size - 1 samples repeat) and the last
//                      batch may be short; with pad_shards = false (evaluation) the shards are
//                      uneven instead (rank r reads ceil((N - r) / world_size)) and nothing repeats.
// With prefetch_next_epoch the workers go on into epoch e + 1 when epoch e is handed out, and
// set_epoch(e + 1) keeps what they read: the batches are the same as without it.
// An unreadable sample is counted and logged once; in training it is replaced by the next readable
// dataset index, elsewhere (evaluation, predict, embed) it keeps its row, flagged in Batch::readable,
// so that no result is written under another image's name.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "mae/data/loader/batch_buffers.h"
#include "mae/data/loader/batch_source.h"
#include "mae/data/loader/sample_writer.h"

namespace mae::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  int num_workers = 0;  // 0: one per core available
  int prefetch_batches = 4;
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = true;
  int64_t rank = 0, world_size = 1;  // sharding (see the top of this file)
  bool pad_shards = true;
  bool pin_memory = false;           // honoured only when CUDA is available
  bool replace_unreadable = true;    // false: an unreadable sample's row stays, zeros, readable = false
  // Batches of uint8 images, normalised where they are used (Batch::normalize, data::to_device):
  // a quarter of the bytes to copy to a GPU. Needs SampleTransform::writes_uint8 and 8-bit images.
  bool uint8_images = false;
  // When an epoch has been handed out, go on with the next one (its first prefetch_batches batches),
  // so that the trainer does not wait for them at the epoch boundary. set_epoch(e + 1) keeps them.
  bool prefetch_next_epoch = false;
};

class Loader : public BatchSource {
 public:
  Loader(std::shared_ptr<const SampleWriter> samples, LoaderOptions options);
  // Classification: ClassificationSamples of `source` through `transform`.
  Loader(std::shared_ptr<const Source> source, std::shared_ptr<const SampleTransform> transform,
         LoaderOptions options);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void set_epoch(int64_t epoch, int64_t first_batch = 0) override;  // that epoch's shuffled shard
  bool next(Batch* out) override;          // false at the end of the epoch; starts epoch 0 if none was set
  int64_t batches_per_epoch() const override;
  int64_t samples_per_epoch() const;  // the samples this rank reads per epoch (full batches only with drop_last)
  int64_t dataset_size() const override;
  double wait_seconds() const override;      // time next() spent blocked since set_epoch
  int64_t skipped_samples() const override;  // unreadable images skipped so far (each path logged once)
  std::map<int64_t, std::string> unreadable_samples() const;  // dataset index -> why it was not read
  int num_workers() const { return static_cast<int>(workers_.size()); }
  const LoaderOptions& options() const { return options_; }
  std::string describe(int64_t index) const { return samples_->describe(index); }  // a dataset index's file

 private:
  struct Slot {
    Batch batch;
    int64_t remaining = 0;  // samples not yet written
  };
  using SlotKey = std::pair<int64_t, int64_t>;  // (epoch, batch)
  void worker_loop();
  bool has_work_locked() const;
  // How many batches ahead of the trainer batch `batch` of `epoch` is.
  int64_t batches_ahead_locked(int64_t epoch, int64_t batch) const;
  // Hands out the next epoch once the current one is (prefetch_next_epoch); called unlocked.
  void advance_fill_epoch(std::unique_lock<std::mutex>& lock);
  // Writes one sample (or its replacement when unreadable) to row `row` of `batch`.
  void load_sample(int64_t epoch, int64_t dataset_index, const Batch& batch, int64_t row);
  void note_skip(int64_t index, const std::string& reason);
  Slot& slot_locked(SlotKey key);
  int64_t batch_length(int64_t batch_index) const;

  std::shared_ptr<const SampleWriter> samples_;
  LoaderOptions options_;
  std::shared_ptr<const DeviceNormalize> normalize_;  // uint8_images
  int64_t samples_per_epoch_ = 0;
  int64_t batches_per_epoch_ = 0;
  int64_t chunk_ = 1;  // samples a worker takes at once

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  bool started_ = false;
  bool advancing_ = false;   // a worker is drawing the next epoch's order
  uint64_t generation_ = 0;  // bumped by set_epoch when it starts afresh; stale work is dropped
  int64_t epoch_ = 0;        // the epoch next() returns batches of
  int64_t consumed_ = 0;     // batches of epoch_ returned by next()
  int64_t fill_epoch_ = 0;   // the epoch being handed out to the workers: epoch_ or epoch_ + 1
  std::shared_ptr<const std::vector<int64_t>> order_;  // fill_epoch_'s shard, dataset indices
  int64_t next_position_ = 0;                          // next shard position of fill_epoch_ to hand out
  std::map<SlotKey, Slot> slots_;                      // batches in flight
  std::exception_ptr error_;
  double wait_seconds_ = 0;
  int64_t skipped_ = 0;
  std::map<int64_t, std::string> bad_reasons_;  // dataset index -> the reader's message
  std::unique_ptr<BatchBuffers> buffers_;  // [batch_size, C, H, W]
};

}  // namespace mae::data
