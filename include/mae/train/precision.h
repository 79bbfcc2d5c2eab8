// Mixed precision (train.precision): "fp32" (none), "bf16" autocast, or "fp16" autocast with a
// dynamic loss scale (loss_scaler.h), on CUDA and on CPUs where LibTorch supports it. The loss is
// always computed in fp32 (MaskedAutoencoderViT::forward_loss promotes); the weights, their
// gradients and the optimizer state stay fp32.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::train {

enum class Precision { kFp32, kBf16, kFp16 };

// Throws UsageError for anything but "fp32", "bf16" and "fp16".
Precision parse_precision(const std::string& precision);
const char* precision_name(Precision precision);

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
