// Mixed precision: "fp32" (none) or "bf16" autocast on CUDA and on CPUs where LibTorch supports
// it. The loss is always computed in fp32 (MaskedAutoencoderViT::forward_loss promotes).
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::train {

// Throws UsageError for anything but "fp32" / "bf16".
bool wants_bf16(const std::string& precision);

// Enables autocast to bf16 on `device` for its lifetime when `enabled`.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
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
