// Mixed precision (train.precision): "fp32" (none), "bf16" autocast, or "fp16" autocast with a
// dynamic loss scale (loss_scaler.h), on CUDA and on CPUs where LibTorch supports it. The loss is
// always computed in fp32 (MaskedAutoencoderViT::forward_loss promotes); the weights, their
// gradients and the optimizer state stay fp32. "auto" (the commands' default) is settled before
// training: bf16 where the hardware computes it natively and a short measurement finds it faster
// (tasks/precision_choice.h), else fp32.
#pragma once

#include <string>

#include <torch/torch.h>

#include "mae/train/trainer_options.h"  // Precision, kPrecisionNames

namespace mae::train {

// "auto", "fp32", "bf16" or "fp16".
const char* precision_name(Precision precision);
// Throws Error for Precision::kAuto: what trains must have been settled (tasks::choose_precision).
void check_settled(Precision precision);

// Whether `device` may gain from bf16: a CPU with AVX512-BF16 or AMX (read from /proc/cpuinfo), or a
// CUDA GPU (whether it is faster there is for a measurement to say). `why` receives the reason.
bool bf16_hardware(const torch::Device& device, std::string* why);

// train.tf32: TF32 tensor cores for fp32 matmuls and convolutions on Ampere and later GPUs (as
// torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32). Process-wide.
void set_tf32(bool enabled);

// Enables autocast to bf16 or fp16 on `device` for its lifetime (nothing for fp32; Error for auto).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_type_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace mae::train
