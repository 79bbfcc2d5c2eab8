#include "mae/data/wds/shard_loader.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include <c10/util/ParallelGuard.h>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/runtime.h"
#include "mae/data/wds/shard_order.h"
#include "mae/data/wds/wds_sample.h"
#include "data/loader/worker_thread.h"

namespace mae::data {
namespace {

constexpr uint64_t kTransformStream = 0x5452414E53ull;  // "TRANS", as the file loader's
// After this many unreadable samples in a row the data is broken, not a file here and there.
constexpr int64_t kMaxConsecutiveBad = 1000;

struct StreamItem {
  WdsSample sample;
  int64_t index = 0;  // dataset index: the shard's first sample + the sample's ordinal
  int64_t pass = 0;
};

}  // namespace

// One worker's samples for one epoch: its shards in order through the shuffle buffer, which is
// drained at the end of each pass over them, so that a pass yields each of its samples once.
class ShardLoader::Stream {
 public:
  Stream(const ShardSet& set, const std::vector<int64_t>& first, int64_t epoch, const StreamPlan& plan, int64_t stream,
         const ShardStreamOptions& options)
      : set_(set), first_(first), epoch_(epoch), plan_(plan), stream_(stream), label_field_(options.label_field),
        buffer_(static_cast<size_t>(options.shuffle_buffer), stream_seed(epoch, plan, stream)) {
    start_pass();
  }

  // The next sample, its image read when `load` (skipped samples are never read).
  StreamItem next(bool load) {
    while (true) {
      if (!draining_) {
        StreamItem item;
        if (read(load, &item)) {
          if (auto out = buffer_.push(std::move(item))) return finish(std::move(*out), load);
          continue;
        }
        draining_ = true;  // this pass's shards are read: empty the buffer before the next pass
      }
      if (auto out = buffer_.pop()) return finish(std::move(*out), load);
      MAE_CHECK(pass_samples_ > 0, "data: the shards of stream ", stream_, " of rank ", plan_.rank,
                " hold no readable samples; check the shards (", set_.shards.front().path, ", ...)");
      ++pass_;
      start_pass();
    }
  }

 private:
  static StreamItem finish(StreamItem item, bool load) {
    if (load) item.sample.load_image();
    return item;
  }

  void start_pass() {
    shards_ = stream_shards(static_cast<int64_t>(set_.shards.size()), epoch_, plan_, stream_, pass_);
    position_ = 0;
    pass_samples_ = 0;
    draining_ = false;
  }

  // The next sample of this pass; false when its shards are read.
  bool read(bool load, StreamItem* item) {
    while (true) {
      if (!reader_) {
        if (position_ == shards_.size()) return false;
        shard_ = shards_[position_++];
        reader_ = std::make_unique<WdsShardReader>(set_.shards[shard_].path, label_field_);
      }
      if (reader_->next(&item->sample, load)) {
        item->index = first_[shard_] + item->sample.ordinal;
        item->pass = pass_;
        ++pass_samples_;
        return true;
      }
      if (reader_->truncated()) {
        core::log_warning(str("data: shard ", set_.shards[shard_].path, " ends early (", reader_->error(),
                              "); the epoch goes on with the next shard"));
      }
      reader_.reset();
    }
  }

  const ShardSet& set_;
  const std::vector<int64_t>& first_;
  int64_t epoch_;
  StreamPlan plan_;
  int64_t stream_;
  std::string label_field_;
  ShuffleBuffer<StreamItem> buffer_;
  std::vector<int64_t> shards_;
  size_t position_ = 0;
  int64_t pass_ = 0, pass_samples_ = 0, shard_ = 0;
  bool draining_ = false;
  std::unique_ptr<WdsShardReader> reader_;
};

ShardLoader::ShardLoader(ShardSet shards, std::shared_ptr<const SampleTransform> transform, LoaderOptions options,
                         ShardStreamOptions stream_options)
    : shards_(std::move(shards)), transform_(std::move(transform)), options_(options), stream_options_(std::move(stream_options)) {
  MAE_CHECK(transform_, "ShardLoader needs a transform");
  MAE_CHECK_USAGE(options_.batch_size > 0, "batch size ", options_.batch_size, " must be positive");
  MAE_CHECK_USAGE(options_.prefetch_batches > 0, "data.prefetch_batches ", options_.prefetch_batches, " must be positive");
  MAE_CHECK_USAGE(stream_options_.shuffle_buffer >= 0, "data.wds_shuffle_buffer ", stream_options_.shuffle_buffer,
                  " must be >= 0 (0: no sample shuffle inside the shards)");
  MAE_CHECK_USAGE(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size, "data sharding: rank ",
                  options_.rank, " is outside world size ", options_.world_size);
  first_samples_ = shards_.first_samples();
  const int64_t wanted = options_.num_workers > 0 ? options_.num_workers : core::usable_cores();
  streams_ = streams_per_rank(static_cast<int64_t>(shards_.shards.size()), options_.world_size, wanted);
  if (streams_ < wanted) {
    core::log_info(str("data: ", shards_.shards.size(), " shard(s) over ", options_.world_size, " rank(s) feed ", streams_,
                       " loader thread(s) per rank instead of ", wanted, " (one stream of shards per thread); more, smaller ",
                       "shards use more threads"));
  }
  const int64_t samples = shards_.samples();
  batches_per_epoch_ = samples / (options_.world_size * options_.batch_size);
  MAE_CHECK_USAGE(batches_per_epoch_ > 0, "the shards hold ", samples, " samples (", shards_.origin, "), fewer than one batch of ",
                  options_.batch_size, " per rank over ", options_.world_size, " rank(s); lower the batch size");
  const auto& t = transform_->options();
  if (options_.uint8_images) normalize_ = transform_->device_normalize();
  buffers_ = std::make_unique<BatchBuffers>(std::vector<int64_t>{options_.batch_size, t.channels, t.height, t.width},
                                            options_.uint8_images ? torch::kUInt8 : torch::kFloat32,
                                            options_.pin_memory && torch::cuda::is_available(),
                                            static_cast<size_t>(std::max<int64_t>(options_.prefetch_batches, streams_) + 2));
  for (int64_t s = 0; s < streams_; ++s) workers_.emplace_back([this, s] { worker_loop(s); });
}

ShardLoader::~ShardLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

double ShardLoader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wait_seconds_;
}

int64_t ShardLoader::skipped_samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

void ShardLoader::set_epoch(int64_t epoch, int64_t first_batch) {
  MAE_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch_, "ShardLoader::set_epoch: batch ", first_batch,
            " is outside the epoch's ", batches_per_epoch_, " batches");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    first_batch_ = first_batch;
    consumed_ = first_batch;
    ready_.clear();
    error_ = nullptr;
    wait_seconds_ = 0;
  }
  work_cv_.notify_all();
}

bool ShardLoader::next(Batch* out) {
  MAE_CHECK(out != nullptr, "ShardLoader::next: null batch");
  if (!started_) set_epoch(0);
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= batches_per_epoch_) return false;
  auto ready = [&] { return error_ || ready_.count(consumed_) > 0; };
  if (!ready()) {
    const auto start = std::chrono::steady_clock::now();
    ready_cv_.wait(lock, ready);
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (error_) std::rethrow_exception(error_);
  auto it = ready_.find(consumed_);
  *out = std::move(it->second);
  ready_.erase(it);
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  return true;
}

void ShardLoader::worker_loop(int64_t stream_id) {
  detail::keep_this_thread_single_threaded();
  c10::ParallelGuard parallel_guard(true);
  torch::NoGradGuard no_grad;  // not InferenceMode: the batches must be usable by autograd
  const int64_t ahead = std::max<int64_t>(options_.prefetch_batches, streams_);
  const StreamPlan plan{options_.seed, options_.shuffle, options_.rank, options_.world_size, streams_};
  std::unique_ptr<Stream> stream;
  uint64_t generation = 0;  // of `stream`; 0: none yet
  int64_t next_batch = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ || (started_ && !error_ &&
                       (generation != generation_ || (next_batch < batches_per_epoch_ && next_batch < consumed_ + ahead)));
    });
    if (stop_) return;
    const uint64_t current = generation_;
    const int64_t epoch = epoch_;
    std::exception_ptr failure;
    if (generation != current) {
      // (Re)start this epoch's stream at the first batch asked for: skip this stream's share of the
      // batches before it, reading the shards' headers but no image.
      const int64_t first = first_batch_;
      lock.unlock();
      next_batch = first + ((stream_id - first) % streams_ + streams_) % streams_;
      try {
        stream.reset();
        stream = std::make_unique<Stream>(shards_, first_samples_, epoch, plan, stream_id, stream_options_);
        const int64_t skip = (next_batch - stream_id) / streams_ * options_.batch_size;
        for (int64_t i = 0; i < skip; ++i) stream->next(/*load=*/false);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (failure && current == generation_ && !error_) {
        error_ = failure;
        ready_cv_.notify_all();
      }
      generation = failure ? 0 : current;
      continue;
    }
    const int64_t batch_index = next_batch;
    lock.unlock();
    Batch batch;
    try {
      batch = build_batch(*stream, epoch);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (current != generation_) continue;  // set_epoch discarded this work
    if (failure) {
      if (!error_) error_ = failure;
      ready_cv_.notify_all();
      continue;
    }
    ready_[batch_index] = std::move(batch);
    next_batch += streams_;
    ready_cv_.notify_all();
  }
}

Batch ShardLoader::build_batch(Stream& stream, int64_t epoch) {
  const int64_t n = options_.batch_size, numel = transform_->numel();
  Batch batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.images = buffers_->take();
  }
  batch.labels = torch::empty({n}, torch::kInt64);
  batch.indices = torch::empty({n}, torch::kInt64);
  batch.normalize = normalize_;
  auto* images = static_cast<char*>(batch.images.data_ptr());
  const auto row_bytes = static_cast<size_t>(numel) * batch.images.element_size();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t* indices = batch.indices.data_ptr<int64_t>();
  std::vector<bool> good(static_cast<size_t>(n), false);
  int64_t good_rows = 0, bad_in_a_row = 0;
  // Each row takes one sample of the stream; rows whose sample is unreadable are filled below. Only
  // when every row is unreadable does the batch take more samples (and the stream position drifts).
  for (int64_t row = 0; row < n || good_rows == 0; ++row) {
    const int64_t target = row < n ? row : 0;
    StreamItem item = stream.next(/*load=*/true);
    try {
      const RawImage image = item.sample.take_image();
      SampleRng rng = SampleRng::for_sample(options_.seed, epoch, item.index, kTransformStream + static_cast<uint64_t>(item.pass));
      transform_->write(image, rng, batch.images, target);
      labels[target] = item.sample.label;
      indices[target] = item.index;
      good[static_cast<size_t>(target)] = true;
      ++good_rows;
      bad_in_a_row = 0;
    } catch (const DataError& e) {
      note_skip(item.sample.describe(), e.what());
      MAE_CHECK(++bad_in_a_row < kMaxConsecutiveBad, "data: ", kMaxConsecutiveBad, " unreadable samples in a row up to ",
                item.sample.describe(), "; the shards are broken (see the warnings above)");
    }
  }
  for (int64_t row = 0; row < n && good_rows < n; ++row) {
    if (good[static_cast<size_t>(row)]) continue;
    int64_t source = (row + 1) % n;  // the next readable row, cyclically
    while (!good[static_cast<size_t>(source)]) source = (source + 1) % n;
    std::memcpy(images + row * row_bytes, images + source * row_bytes, row_bytes);
    labels[row] = labels[source];
    indices[row] = indices[source];
  }
  return batch;
}

void ShardLoader::note_skip(const std::string& origin, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++skipped_;
  if (logged_bad_.insert(origin).second) core::log_warning(str("data: skipping unreadable sample: ", reason));
}

}  // namespace mae::data
