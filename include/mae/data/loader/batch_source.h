// What a training loop draws batches from: the threaded Loader in runs, a few tensors in unit tests.
// An epoch's batches are a pure function of (seed, epoch): set_epoch(e) restarts epoch e.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace mae::data {

// What Normalize does to 8-bit pixels, in float32: (x / range - mean[c]) / std[c]. A batch of uint8
// images carries it to the device (a quarter of the bytes of float32) and is normalised there.
struct DeviceNormalize {
  std::vector<float> mean, std;
  float range = 255;
};

struct Batch {
  // [N, C, H, W] float32, normalised, or uint8 when `normalize` is set (pinned CPU memory when
  // pin_memory). to_device gives float32 images either way.
  torch::Tensor images;
  torch::Tensor labels;   // [N] int64, -1 for unlabelled sources
  torch::Tensor indices;  // [N] int64 dataset indices of the samples (for visualisation/debug)
  // [N] bool: false for a sample that could not be read and was left in its row (zeros; see
  // LoaderOptions::replace_unreadable). Undefined when every row holds its own sample.
  torch::Tensor readable;
  std::shared_ptr<const DeviceNormalize> normalize;  // set when images are uint8
};

// The rows of `batch` that hold a sample that was read (all of it when nothing is flagged).
Batch readable_rows(const Batch& batch);

// The batch on `device` (images and labels; the copies are non-blocking, from pinned memory where
// the loader pinned it), with uint8 images normalised there into float32, bit for bit what
// Normalize's table gives on the CPU.
Batch to_device(const Batch& batch, const torch::Device& device);

// uint8 images [N, C, H, W] on any device -> float32 (x / range - mean[c]) / std[c].
torch::Tensor normalize_images(const torch::Tensor& images, const DeviceNormalize& normalize);

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
