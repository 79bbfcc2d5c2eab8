#include "mae/tasks/precision_choice.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/distributed/process_group.h"
#include "mae/train/precision.h"

namespace mae::tasks {
namespace {

constexpr int64_t kProbeBatch = 32;
constexpr double kMinGain = 1.1;  // bf16 must be this much faster to be chosen

// Seconds of one forward + backward of `task` on `batch`.
double time_step(train::Task& task, const data::Batch& batch, const torch::Device& device, bool bf16) {
  const auto start = std::chrono::steady_clock::now();
  {
    train::AutocastGuard autocast(device, bf16 ? train::Precision::kBf16 : train::Precision::kFp32);
    train::Scalars scalars;
    task.loss(batch, 0, &scalars).backward();
  }
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
  task.model().zero_grad(/*set_to_none=*/true);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Times both precisions (interleaved, best of two after a warm-up each).
void measure(train::Task& task, const data::Batch& batch, const torch::Device& device, PrecisionChoice* choice) {
  torch::nn::Module& model = task.model();
  std::vector<torch::Tensor> buffers;  // BatchNorm statistics must not see the synthetic batch
  for (const auto& b : model.buffers()) buffers.push_back(b.detach().clone());
  const bool was_training = model.is_training();
  auto generator = at::detail::getDefaultCPUGenerator();
  const auto rng_state = generator.get_state();  // drop path draws from it
  model.train();
  time_step(task, batch, device, false);
  time_step(task, batch, device, true);
  double fp32 = 1e30, bf16 = 1e30;
  for (int round = 0; round < 2; ++round) {
    fp32 = std::min(fp32, time_step(task, batch, device, false));
    bf16 = std::min(bf16, time_step(task, batch, device, true));
  }
  generator.set_state(rng_state);
  model.train(was_training);
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& b : model.buffers()) b.copy_(buffers[i++]);
  auto seconds = torch::tensor({fp32, bf16}, torch::kFloat64);
  if (distributed::world_size() > 1) distributed::all_reduce_sum(seconds, "precision probe timings");
  choice->fp32_seconds = seconds[0].item<double>() / distributed::world_size();
  choice->bf16_seconds = seconds[1].item<double>() / distributed::world_size();
}

}  // namespace

PrecisionChoice choose_precision(train::Precision requested, train::Task& task, int64_t batch_size, int64_t in_chans,
                                 int64_t img_h, int64_t img_w, const torch::Device& device, bool label_maps) {
  PrecisionChoice choice;
  if (requested != train::Precision::kAuto) {
    choice.precision = requested;
    choice.reason = "as configured";
    // CPUs have no fp16 GEMMs: LibTorch emulates them, an order of magnitude slower (measured 28
    // against 400 img/s in bf16 on the demo model).
    if (requested == train::Precision::kFp16 && device.is_cpu()) {
      core::log_warning("train.precision=fp16 on a CPU: fp16 is emulated there and runs many times slower than bf16 or fp32; "
                        "use train.precision=bf16 (or auto, which measures bf16 against fp32) unless you are checking the fp16 path");
    }
    return choice;
  }
  choice.measured_auto = true;
  std::string hardware;
  if (!train::bf16_hardware(device, &hardware)) {
    choice.precision = train::Precision::kFp32;
    choice.reason = "auto: " + hardware;
    return choice;
  }
  const int64_t n = std::min(batch_size, kProbeBatch);
  auto generator = at::detail::createCPUGenerator(0);
  const auto labels = label_maps ? torch::zeros({n, img_h, img_w}, torch::kInt64) : torch::zeros({n}, torch::kInt64);
  data::Batch batch{torch::randn({n, in_chans, img_h, img_w}, generator).to(device), labels.to(device),
                    torch::arange(n, torch::kInt64), torch::Tensor(), nullptr};
  try {
    measure(task, batch, device, &choice);
  } catch (const c10::Error& e) {  // e.g. an op without a bf16 kernel on this device
    choice.precision = train::Precision::kFp32;
    choice.reason = str("auto: ", hardware, " but a bf16 step failed (", e.what_without_backtrace(), ")");
    return choice;
  }
  const double gain = choice.fp32_seconds / choice.bf16_seconds;
  choice.precision = gain >= kMinGain ? train::Precision::kBf16 : train::Precision::kFp32;
  choice.reason = str("auto: ", hardware, "; a training step of ", n, " images took ", choice.fp32_seconds, " s in fp32, ",
                      choice.bf16_seconds, " s in bf16 (", gain, "x", gain >= kMinGain ? "" : ", less than the 1.1x that bf16 must gain",
                      ")");
  return choice;
}

PrecisionChoice settle_precision(train::TrainerOptions* trainer, train::Task& task, int64_t in_chans, int64_t img_h, int64_t img_w,
                                 const torch::Device& device, bool label_maps) {
  PrecisionChoice choice =
      choose_precision(trainer->precision, task, trainer->batch_size, in_chans, img_h, img_w, device, label_maps);
  trainer->precision = choice.precision;
  return choice;
}

}  // namespace mae::tasks
