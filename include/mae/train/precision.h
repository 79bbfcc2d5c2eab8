// Mixed precision (train.precision): "fp32" (none), "bf16" autocast, or "fp16" autocast with a
// dynamic loss scale (loss_scaler.h), on CUDA and on CPUs where LibTorch supports it. The loss is
// always computed in fp32 (MaskedAutoencoderViT::forward_loss promotes); the weights, their
// gradients and the optimizer state stay fp32. "auto" (the commands' default) is settled before
// training: bf16 where the hardware computes it natively and a short measurement finds it faster
// (tasks/precision_choice.h), else fp32.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::train {

enum class Precision { kFp32, kBf16, kFp16 };

// Throws UsageError for anything but "auto", "fp32", "bf16" and "fp16".
void check_precision(const std::string& precision);
// "fp32", "bf16" or "fp16"; throws UsageError for others and Error for an unsettled "auto".
Precision parse_precision(const std::string& precision);
const char* precision_name(Precision precision);

// Whether `device` may gain from bf16: a CPU with AVX512-BF16 or AMX (read from /proc/cpuinfo), or a
// CUDA GPU (whether it is faster there is for a measurement to say). `why` receives the reason.
bool bf16_hardware(const torch::Device& device, std::string* why);

// train.tf32: TF32 tensor cores for fp32 matmuls and convolutions on Ampere and later GPUs (as
// torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32). Process-wide.
void set_tf32(bool enabled);

// Enables autocast to bf16 or fp16 on `device` for its lifetime (nothing for fp32).
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
