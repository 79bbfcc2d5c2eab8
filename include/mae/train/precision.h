// Mixed precision: "fp32" (none) or "bf16" autocast on CUDA and on CPUs where LibTorch supports
// it. The loss is always computed in fp32 (MaskedAutoencoderViT::forward_loss promotes).
// "auto" (the commands' default) is settled before training: bf16 where the hardware computes it
// natively and a short measurement finds it faster (tasks/precision_choice.h), else fp32.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::train {

// Throws UsageError for anything but "auto" / "fp32" / "bf16".
void check_precision(const std::string& precision);
// Throws UsageError for anything but "fp32" / "bf16" ("auto" must be settled first).
bool wants_bf16(const std::string& precision);
// Whether `device` may gain from bf16: a CPU with AVX512-BF16 or AMX (read from /proc/cpuinfo), or a
// CUDA GPU (whether it is faster there is for a measurement to say). `why` receives the reason.
bool bf16_hardware(const torch::Device& device, std::string* why);

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
