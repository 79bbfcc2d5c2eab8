// Settling train.precision=auto for a training task (train/precision.h): fp32 unless the hardware
// computes bf16 natively; there, a short measurement at start-up decides.
#pragma once

#include <string>

#include <torch/torch.h>

#include "mae/train/trainer.h"

namespace mae::tasks {

struct PrecisionChoice {
  train::Precision precision = train::Precision::kFp32;  // never kAuto
  bool measured_auto = false;        // auto was requested: `reason` says why it became `precision`
  std::string reason;                // one line for the log and the saved config
  double fp32_seconds = 0, bf16_seconds = 0;  // per probe step; 0 when not measured
};

// fp32 / bf16 / fp16 are returned as they are. auto: where train::bf16_hardware says yes, one
// warm-up and two timed training steps each way (forward + backward of `task` on a synthetic batch
// [min(batch, 32), C, H, W] on `device`) pick bf16 when it is at least 10 % faster, else fp32. The
// model's weights, buffers and gradients and LibTorch's CPU random state are left as they were;
// the ranks of a distributed run sum their timings, so they all decide alike. The synthetic labels
// are classes [N], or label maps [N, H, W] with label_maps (segmentation).
PrecisionChoice choose_precision(train::Precision requested, train::Task& task, int64_t batch_size, int64_t in_chans,
                                 int64_t img_h, int64_t img_w, const torch::Device& device, bool label_maps = false);

// choose_precision for trainer->precision, then the choice written into `trainer` (from which the
// run writes its config.yaml, so that the file says what ran and a resumed run keeps it).
PrecisionChoice settle_precision(train::TrainerOptions* trainer, train::Task& task, int64_t in_chans, int64_t img_h, int64_t img_w,
                                 const torch::Device& device, bool label_maps = false);

}  // namespace mae::tasks
