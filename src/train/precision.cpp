#include "mae/train/precision.h"

#include <ATen/autocast_mode.h>

#include "mae/core/error.h"

namespace mae::train {

Precision parse_precision(const std::string& precision) {
  if (precision == "fp32") return Precision::kFp32;
  if (precision == "bf16") return Precision::kBf16;
  if (precision == "fp16") return Precision::kFp16;
  throw UsageError(str("train.precision must be fp32, bf16 or fp16, got '", precision,
                       "' (bf16 on A100/H100 and CPUs with AVX512-BF16 or AMX; fp16 on V100, T4 and other GPUs without bf16)"));
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    default: return "fp32";
  }
}

void set_tf32(bool enabled) {
  at::globalContext().setFloat32MatmulPrecision(enabled ? "high" : "highest");
  at::globalContext().setAllowTF32CuDNN(enabled);
}

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision)
    : enabled_(precision != Precision::kFp32), device_type_(device.type()) {
  if (!enabled_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
}

}  // namespace mae::train
