// What a training loop draws batches from: the threaded Loader in runs, a few tensors in unit tests.
// An epoch's batches are a pure function of (seed, epoch): set_epoch(e) restarts epoch e.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::data {

struct Batch {
  torch::Tensor images;   // [N, C, H, W] float32, normalised (pinned CPU memory when pin_memory)
  torch::Tensor labels;   // [N] int64, -1 for unlabelled sources
  torch::Tensor indices;  // [N] int64 dataset indices of the samples (for visualisation/debug)
  // [N] bool: false for a sample that could not be read and was left in its row (zeros; see
  // LoaderOptions::replace_unreadable). Undefined when every row holds its own sample.
  torch::Tensor readable;
};

// The rows of `batch` that hold a sample that was read (all of it when nothing is flagged).
Batch readable_rows(const Batch& batch);

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // (Re)starts iteration over that epoch at its batch `first_batch` (a resume inside the epoch).
  virtual void set_epoch(int64_t epoch, int64_t first_batch = 0) = 0;
  virtual bool next(Batch* out) = 0;          // false at the end of the epoch
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t dataset_size() const = 0;
  virtual double wait_seconds() const { return 0; }     // time next() spent blocked since set_epoch
  virtual int64_t skipped_samples() const { return 0; }  // unreadable samples skipped so far
};

}  // namespace mae::data
