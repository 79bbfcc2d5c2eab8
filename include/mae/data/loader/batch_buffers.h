// The image tensors of a loader's batches, [batch, C, H, W] float32 or uint8. Plain memory is reused once
// nothing holds a buffer any more (no tensor, no view), sparing the page faults of fresh memory on
// every batch (a 64 x 3 x 224 x 224 batch is 38 MB); pinned memory comes fresh from LibTorch's
// caching pinned allocator, which knows when an asynchronous copy still reads a block.
#pragma once

#include <cstddef>
#include <vector>

#include <torch/torch.h>

namespace mae::data {

class BatchBuffers {
 public:
  // keep: how many plain buffers to hold for reuse (the batches that can be in flight).
  BatchBuffers(std::vector<int64_t> shape, torch::ScalarType dtype, bool pinned, size_t keep)
      : shape_(std::move(shape)), dtype_(dtype), pinned_(pinned), keep_(keep) {}
  // A buffer no one else holds. Not thread-safe: the loader calls it under its lock.
  torch::Tensor take() {
    const auto options = torch::TensorOptions(dtype_).pinned_memory(pinned_);
    if (pinned_) return torch::empty(shape_, options);
    for (const auto& buffer : buffers_) {
      if (buffer.use_count() == 1 && buffer.storage().use_count() == 1) return buffer;
    }
    auto buffer = torch::empty(shape_, options);
    if (buffers_.size() < keep_) buffers_.push_back(buffer);
    return buffer;
  }

 private:
  std::vector<int64_t> shape_;
  torch::ScalarType dtype_;
  bool pinned_;
  size_t keep_;
  std::vector<torch::Tensor> buffers_;
};

}  // namespace mae::data
