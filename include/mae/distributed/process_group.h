// The process group of a data-parallel job, on LibTorch's c10d: rendezvous through a TCPStore
// hosted by rank 0 at MASTER_ADDR:MASTER_PORT, ProcessGroupGloo for CPU tensors and
// ProcessGroupNCCL for CUDA ones. A process that never calls init() is a world of one: every
// function here is then a no-op, so single-process code needs no branches.
//
// Failures never hang silently: every collective waits at most `timeout`, and a failed or
// timed-out collective throws mae::Error naming the rank(s) at fault, found from the heartbeat
// each rank publishes in the store twice a second (its step and time).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/distributed/environment.h"

namespace mae::distributed {

// --dist-backend: auto is NCCL for CUDA, else Gloo.
enum class Backend { kAuto, kGloo, kNccl };
inline constexpr core::Choice<Backend> kBackendNames[] = {{Backend::kAuto, "auto"}, {Backend::kGloo, "gloo"}, {Backend::kNccl, "nccl"}};

struct GroupOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // per collective and for the rendezvous
  Backend backend = Backend::kAuto;
};

// Joins the job described by `env` (nothing happens for a world of one). A CUDA `device` becomes
// cuda:<local rank>. Returns the device this rank computes on.
torch::Device init(const Environment& env, torch::Device device, const GroupOptions& options = {});
bool initialized();
int rank();
int world_size();
int local_rank();
std::string backend_name();  // "gloo", "nccl" or "none"

// Collectives: blocking, in place, on tensors of any device (moved to the backend's device and
// back when they differ). `what` names the operation in an error.
void all_reduce_sum(torch::Tensor& tensor, const std::string& what);
void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what);
void barrier(const std::string& what);
// Copies rank 0's parameters and buffers into every rank's module.
void broadcast_module(torch::nn::Module& module);
// Copies rank 0's buffers only (BatchNorm running statistics before an evaluation, as DDP's
// broadcast_buffers).
void broadcast_buffers(torch::nn::Module& module);

// An all-reduce in flight (the gradient buckets): wait() blocks until it is done.
class PendingAllReduce {
 public:
  struct Impl;
  explicit PendingAllReduce(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void wait();

 private:
  std::shared_ptr<Impl> impl_;
};
PendingAllReduce all_reduce_sum_async(torch::Tensor tensor, const std::string& what);

// The step this rank is at, published with its heartbeat (named in failure messages).
void set_progress(int64_t step);

// End of a job: waits for every rank (so rank 0's store outlives their last use of it) and stops
// the heartbeat.
void finish();

}  // namespace mae::distributed
