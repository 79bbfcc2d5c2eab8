#include "mae/data/loader/loader.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

#include <c10/util/ParallelGuard.h>

#include "mae/core/error.h"
#include "mae/core/runtime.h"
#include "mae/core/log.h"
#include "mae/data/loader/sampler.h"
#include "data/loader/worker_thread.h"

namespace mae::data {
namespace {

constexpr uint64_t kTransformStream = 0x5452414E53ull;  // "TRANS"
// After this many unreadable samples in a row the data is broken, not a file here and there.
constexpr int64_t kMaxConsecutiveBad = 1000;


ShardOptions shard_options(const LoaderOptions& o) {
  return ShardOptions{o.seed, o.shuffle, o.drop_last, o.rank, o.world_size, o.pad_shards};
}

}  // namespace

ClassificationSamples::ClassificationSamples(std::shared_ptr<const Source> source,
                                             std::shared_ptr<const SampleTransform> transform)
    : source_(std::move(source)), transform_(std::move(transform)) {
  MAE_CHECK(source_ && transform_, "ClassificationSamples needs a source and a transform");
}

std::vector<int64_t> ClassificationSamples::image_shape() const {
  const auto& t = transform_->options();
  return {t.channels, t.height, t.width};
}

void ClassificationSamples::write(int64_t index, SampleRng& rng, const Batch& batch, int64_t row) const {
  const RawImage image = source_->open(index);
  transform_->write(image, rng, batch.images, row);
  batch.labels.data_ptr<int64_t>()[row] = source_->label(index);
}

Loader::Loader(std::shared_ptr<const Source> source, std::shared_ptr<const SampleTransform> transform,
               LoaderOptions options)
    : Loader(std::make_shared<const ClassificationSamples>(std::move(source), std::move(transform)), options) {}

Loader::Loader(std::shared_ptr<const SampleWriter> samples, LoaderOptions options)
    : samples_(std::move(samples)), options_(options) {
  MAE_CHECK(samples_, "Loader needs samples");
  MAE_CHECK_USAGE(options_.batch_size > 0, "batch size ", options_.batch_size, " must be positive");
  MAE_CHECK_USAGE(options_.prefetch_batches > 0, "data.prefetch_batches ", options_.prefetch_batches,
                  " must be positive");
  MAE_CHECK_USAGE(samples_->size() > 0, "the dataset is empty; check data.root and data.train_files / data.val_files");
  const int64_t shard = shard_size(samples_->size(), shard_options(options_));
  batches_per_epoch_ = options_.drop_last ? shard / options_.batch_size
                                          : (shard + options_.batch_size - 1) / options_.batch_size;
  MAE_CHECK_USAGE(batches_per_epoch_ > 0, "each rank reads ", shard, " samples per epoch (dataset of ",
                  samples_->size(), " over ", options_.world_size, " rank(s)), fewer than one batch of ",
                  options_.batch_size, " with drop_last; lower the batch size");
  // With drop_last the short tail batch is never delivered, so its samples are not read either.
  samples_per_epoch_ = options_.drop_last ? batches_per_epoch_ * options_.batch_size : shard;
  const int workers = options_.num_workers > 0 ? options_.num_workers : core::usable_cores();
  // Enough samples per hand-out to keep the lock cold on tiny images, few enough to share a batch.
  chunk_ = std::clamp<int64_t>(options_.batch_size / (4 * workers), 1, 32);
  if (options_.uint8_images) {
    normalize_ = samples_->device_normalize();
    MAE_CHECK(normalize_, "uint8 batches need samples that can be normalised on the device");
  }
  std::vector<int64_t> shape = samples_->image_shape();
  shape.insert(shape.begin(), options_.batch_size);
  buffers_ = std::make_unique<BatchBuffers>(shape,
                                            options_.uint8_images ? torch::kUInt8 : torch::kFloat32,
                                            options_.pin_memory && torch::cuda::is_available(),
                                            static_cast<size_t>(options_.prefetch_batches + 2));
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t Loader::batches_per_epoch() const { return batches_per_epoch_; }
int64_t Loader::samples_per_epoch() const { return samples_per_epoch_; }
int64_t Loader::dataset_size() const { return samples_->size(); }

double Loader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wait_seconds_;
}

int64_t Loader::skipped_samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

std::map<int64_t, std::string> Loader::unreadable_samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bad_reasons_;
}

void Loader::set_epoch(int64_t epoch, int64_t first_batch) {
  MAE_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch_, "Loader::set_epoch: batch ", first_batch,
            " is outside the epoch's ", batches_per_epoch_, " batches");
  bool kept = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_ && !error_ && epoch == fill_epoch_ && epoch != epoch_ && first_batch == 0) {
      // The workers are already reading this epoch (prefetch_next_epoch): keep what they have.
      for (auto it = slots_.begin(); it != slots_.end();) it = it->first.first < epoch ? slots_.erase(it) : std::next(it);
      epoch_ = epoch;
      consumed_ = 0;
      wait_seconds_ = 0;
      kept = true;
    }
  }
  if (kept) {
    work_cv_.notify_all();
    return;
  }
  auto order = std::make_shared<const std::vector<int64_t>>(shard_indices(samples_->size(), epoch, shard_options(options_)));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    advancing_ = false;
    epoch_ = fill_epoch_ = epoch;
    order_ = std::move(order);
    next_position_ = first_batch * options_.batch_size;
    consumed_ = first_batch;
    slots_.clear();
    error_ = nullptr;
    wait_seconds_ = 0;
  }
  work_cv_.notify_all();
}

int64_t Loader::batch_length(int64_t batch_index) const {
  return std::min(options_.batch_size, samples_per_epoch_ - batch_index * options_.batch_size);
}

Loader::Slot& Loader::slot_locked(SlotKey key) {
  auto it = slots_.find(key);
  if (it != slots_.end()) return it->second;
  const int64_t n = batch_length(key.second);
  Slot& slot = slots_[key];
  slot.remaining = n;
  slot.batch.images = buffers_->take().narrow(0, 0, n);
  std::vector<int64_t> label_shape = samples_->label_shape();
  label_shape.insert(label_shape.begin(), n);
  slot.batch.labels = torch::empty(label_shape, torch::kInt64);
  slot.batch.indices = torch::empty({n}, torch::kInt64);
  if (!options_.replace_unreadable) slot.batch.readable = torch::ones({n}, torch::kBool);
  slot.batch.normalize = normalize_;
  return slot;
}

bool Loader::next(Batch* out) {
  MAE_CHECK(out != nullptr, "Loader::next: null batch");
  if (!started_) set_epoch(0);
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= batches_per_epoch_) return false;
  const SlotKey key{epoch_, consumed_};
  auto ready = [&] {
    if (error_) return true;
    auto it = slots_.find(key);
    return it != slots_.end() && it->second.remaining == 0;
  };
  if (!ready()) {
    const auto start = std::chrono::steady_clock::now();
    ready_cv_.wait(lock, ready);
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (error_) std::rethrow_exception(error_);
  auto it = slots_.find(key);
  *out = std::move(it->second.batch);
  slots_.erase(it);
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  return true;
}

int64_t Loader::batches_ahead_locked(int64_t epoch, int64_t batch) const {
  return (epoch - epoch_) * batches_per_epoch_ + batch - consumed_;
}

bool Loader::has_work_locked() const {
  if (!started_ || error_ || advancing_) return false;
  if (next_position_ < samples_per_epoch_) {
    return batches_ahead_locked(fill_epoch_, next_position_ / options_.batch_size) < options_.prefetch_batches;
  }
  return options_.prefetch_next_epoch && fill_epoch_ == epoch_ &&
         batches_ahead_locked(fill_epoch_ + 1, 0) < options_.prefetch_batches;
}

void Loader::advance_fill_epoch(std::unique_lock<std::mutex>& lock) {
  const uint64_t generation = generation_;
  const int64_t epoch = fill_epoch_ + 1;
  advancing_ = true;
  lock.unlock();
  std::shared_ptr<const std::vector<int64_t>> order;
  std::exception_ptr failure;
  try {
    order = std::make_shared<const std::vector<int64_t>>(shard_indices(samples_->size(), epoch, shard_options(options_)));
  } catch (...) {
    failure = std::current_exception();
  }
  lock.lock();
  if (generation != generation_) return;  // set_epoch started afresh meanwhile
  advancing_ = false;
  if (failure) {
    if (!error_) error_ = failure;
    ready_cv_.notify_all();
    return;
  }
  fill_epoch_ = epoch;
  order_ = std::move(order);
  next_position_ = 0;
  work_cv_.notify_all();
}

void Loader::worker_loop() {
  detail::keep_this_thread_single_threaded();
  c10::ParallelGuard parallel_guard(true);
  // Not InferenceMode: the batch tensors allocated here must be usable by autograd later.
  torch::NoGradGuard no_grad;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] { return stop_ || has_work_locked(); });
    if (stop_) return;
    if (next_position_ >= samples_per_epoch_) {
      advance_fill_epoch(lock);
      continue;
    }
    const uint64_t generation = generation_;
    const int64_t epoch = fill_epoch_;
    const auto order = order_;
    const int64_t batch_index = next_position_ / options_.batch_size;
    const int64_t begin = next_position_;
    const int64_t end = std::min(begin + chunk_, batch_index * options_.batch_size + batch_length(batch_index));
    next_position_ = end;
    const SlotKey key{epoch, batch_index};
    std::exception_ptr failure;
    Batch batch;
    try {
      batch = slot_locked(key).batch;  // shares the tensors
    } catch (...) {  // out of memory for the batch: report it, do not terminate
      failure = std::current_exception();
    }
    lock.unlock();
    try {
      for (int64_t p = begin; p < end && !failure; ++p) {
        load_sample(epoch, (*order)[p], batch, p - batch_index * options_.batch_size);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // set_epoch discarded this work
    if (failure) {
      if (!error_) error_ = failure;
      ready_cv_.notify_all();
      continue;
    }
    auto it = slots_.find(key);
    if (it != slots_.end() && (it->second.remaining -= end - begin) == 0) ready_cv_.notify_all();
  }
}

void Loader::load_sample(int64_t epoch, int64_t dataset_index, const Batch& batch, int64_t row) {
  const int64_t n = samples_->size();
  for (int64_t attempt = 0; attempt < std::min(n, kMaxConsecutiveBad); ++attempt) {
    const int64_t index = (dataset_index + attempt) % n;
    try {
      SampleRng rng = SampleRng::for_sample(options_.seed, epoch, index, kTransformStream);
      samples_->write(index, rng, batch, row);
      batch.indices.data_ptr<int64_t>()[row] = index;
      return;
    } catch (const DataError& e) {
      note_skip(index, e.what());
      if (!options_.replace_unreadable) {
        batch.images[row].zero_();
        batch.labels[row].fill_(-1);
        batch.indices.data_ptr<int64_t>()[row] = index;
        batch.readable.data_ptr<bool>()[row] = false;
        return;
      }
    }
  }
  throw Error(str("data: ", std::min(n, kMaxConsecutiveBad), " unreadable samples in a row from ",
                  samples_->describe(dataset_index), "; the dataset is broken (see the warnings above)"));
}

void Loader::note_skip(int64_t index, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++skipped_;
  if (bad_reasons_.emplace(index, reason).second) core::log_warning(str("data: skipping unreadable sample: ", reason));
}

}  // namespace mae::data
