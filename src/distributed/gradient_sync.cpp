#include "mae/distributed/gradient_sync.h"

#include <chrono>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "mae/core/error.h"
#include "mae/distributed/process_group.h"

namespace mae::distributed {

struct GradientSync::Bucket {
  std::vector<size_t> params;
  torch::Tensor flat;
  size_t pending = 0;  // parameters not yet ready in this step (buckets before next_launch_ are launched)
  std::unique_ptr<PendingAllReduce> work;
};

namespace {

class ReadyHook : public torch::autograd::PostAccumulateGradHook {
 public:
  explicit ReadyHook(std::function<void()> fn) : fn_(std::move(fn)) {}
  void operator()(const torch::autograd::Variable&) override { fn_(); }

 private:
  std::function<void()> fn_;
};

}  // namespace

GradientSync::GradientSync(std::vector<torch::Tensor> params, double bucket_mb) : params_(std::move(params)) {
  active_ = initialized() && world_size() > 1 && !params_.empty();  // a world of one has nothing to reduce
  if (!active_) return;
  const auto dtype = params_.front().scalar_type();
  const auto device = params_.front().device();
  const auto cap = static_cast<int64_t>(bucket_mb * 1024 * 1024);
  bucket_of_.resize(params_.size());
  offset_of_.resize(params_.size());
  int64_t bytes = 0, numel = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    MAE_CHECK(p.scalar_type() == dtype && p.device() == device, "gradient sync: all parameters must share one dtype and device");
    if (buckets_.empty() || bytes >= cap) {
      if (!buckets_.empty()) buckets_.back()->flat = torch::zeros({numel}, p.options());
      buckets_.push_back(std::make_unique<Bucket>());
      bytes = 0, numel = 0;
    }
    buckets_.back()->params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = static_cast<size_t>(numel);
    numel += p.numel();
    bytes += p.numel() * p.element_size();
  }
  buckets_.back()->flat = torch::zeros({numel}, params_.front().options());
  for (size_t k = 0; k < params_.size(); ++k) {
    torch::autograd::impl::set_post_acc_grad_hooks(params_[k],
                                                   std::make_unique<ReadyHook>([this, k] { mark_ready(k); }));
  }
}

GradientSync::~GradientSync() {
  if (!active_) return;
  for (auto& p : params_) torch::autograd::impl::post_acc_grad_hooks(p).reset();
}

int64_t GradientSync::num_buckets() const { return static_cast<int64_t>(buckets_.size()); }

double GradientSync::bytes_per_step() const {
  double total = 0;
  for (const auto& b : buckets_) total += static_cast<double>(b->flat.numel() * b->flat.element_size());
  return total;
}

void GradientSync::arm(bool sync) {
  armed_ = active_ && sync;
  if (!armed_) return;
  for (auto& b : buckets_) {
    b->pending = b->params.size();
    b->work.reset();
  }
  ready_.assign(params_.size(), 0);
  next_launch_ = 0;
}

void GradientSync::mark_ready(size_t param) {
  if (!armed_ || ready_[param]) return;  // a parameter counts once per step
  ready_[param] = 1;
  if (--buckets_[bucket_of_[param]]->pending == 0) launch_ready_buckets();
}

void GradientSync::launch_ready_buckets() {
  // In bucket order only, so that every rank issues the same sequence of collectives.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_]->pending == 0) {
    Bucket& b = *buckets_[next_launch_++];
    torch::NoGradGuard no_grad;
    for (size_t k : b.params) {
      auto slice = b.flat.narrow(0, static_cast<int64_t>(offset_of_[k]), params_[k].numel());
      const auto& grad = params_[k].grad();
      if (grad.defined()) {
        slice.copy_(grad.reshape({-1}));
      } else {
        slice.zero_();
      }
    }
    b.work = std::make_unique<PendingAllReduce>(all_reduce_sum_async(b.flat, "gradient all-reduce"));
    ++launches_;
  }
}

void GradientSync::finish() {
  if (!armed_) return;
  const auto start = std::chrono::steady_clock::now();
  for (auto& b : buckets_) b->pending = 0;  // parameters that got no gradient this step count as zero
  launch_ready_buckets();
  torch::NoGradGuard no_grad;
  const double inv = 1.0 / static_cast<double>(world_size());
  for (auto& b : buckets_) {
    b->work->wait();
    b->flat.mul_(inv);
    for (size_t k : b->params) {
      auto& p = params_[k];
      auto avg = b->flat.narrow(0, static_cast<int64_t>(offset_of_[k]), p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(avg);
      } else {
        p.mutable_grad() = avg.clone();
      }
    }
  }
  armed_ = false;
  exposed_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace mae::distributed
