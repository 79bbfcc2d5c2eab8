#include "mae/train/precision.h"

#include <ATen/autocast_mode.h>
#include "mae/core/torch_version.h"

#include "mae/core/error.h"

namespace mae::train {

bool wants_bf16(const std::string& precision) {
  MAE_CHECK_USAGE(precision == "fp32" || precision == "bf16", "train.precision must be fp32 or bf16, got '", precision,
                  "' (fp16 is not offered: its overflow is the usual cause of NaN losses in MAE)");
  return precision == "bf16";
}

// LibTorch >= 2.4 takes the device type; the per-device setters before it are not supported here.
#if MAE_TORCH_AT_LEAST(2, 4)
#define MAE_AUTOCAST_BY_DEVICE 1
#endif

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled)
    : enabled_(enabled), device_type_(device.type()) {
  if (!enabled_) return;
#ifdef MAE_AUTOCAST_BY_DEVICE
  previous_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
#else
  throw UsageError("train.precision=bf16 needs LibTorch >= 2.4; use fp32 with this build");
#endif
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
#ifdef MAE_AUTOCAST_BY_DEVICE
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
#endif
}

}  // namespace mae::train
