// Data-parallel gradient averaging as PyTorch's DistributedDataParallel does it: parameters are
// packed, in reverse order of registration (roughly the order backward produces their
// gradients), into buckets of about `bucket_mb`; a hook after each gradient's accumulation marks
// the parameter ready, and a full bucket starts its all-reduce at once, so communication overlaps
// the rest of the backward pass. Buckets are launched in the same order on every rank.
//
// With gradient accumulation, only the final micro-step of an optimizer step synchronises
// (arm(false) before the others' backward): the hooks then do nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace mae::distributed {

class GradientSync {
 public:
  // Registers hooks on `params` (all on one device, one dtype). Nothing is done when no process
  // group was initialised.
  GradientSync(std::vector<torch::Tensor> params, double bucket_mb = 25.0);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before a micro-step's backward: whether this backward's gradients are to be synchronised.
  void arm(bool sync);
  // After the synchronising backward: launches any bucket still waiting (a parameter without a
  // gradient counts as zero), waits for all, and leaves every rank with the average gradient.
  void finish();

  bool active() const { return active_; }
  int64_t num_buckets() const;
  double bytes_per_step() const;      // all-reduced per optimizer step
  double exposed_seconds() const { return exposed_seconds_; }  // total time finish() waited
  int64_t launches() const { return launches_; }                // bucket all-reduces started so far

 private:
  struct Bucket;
  void mark_ready(size_t param);
  void launch_ready_buckets();

  std::vector<torch::Tensor> params_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::vector<size_t> bucket_of_, offset_of_;  // per parameter
  std::vector<char> ready_;                    // per parameter, this step
  bool active_ = false, armed_ = false;
  size_t next_launch_ = 0;
  double exposed_seconds_ = 0;
  int64_t launches_ = 0;
};

}  // namespace mae::distributed
