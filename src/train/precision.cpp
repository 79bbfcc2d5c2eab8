#include "mae/train/precision.h"

#include <ATen/autocast_mode.h>

#include "mae/core/error.h"

namespace mae::train {

bool wants_bf16(const std::string& precision) {
  MAE_CHECK_USAGE(precision == "fp32" || precision == "bf16", "train.precision must be fp32 or bf16, got '", precision,
                  "' (fp16 is not offered: its overflow is the usual cause of NaN losses in MAE)");
  return precision == "bf16";
}

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled)
    : enabled_(enabled), device_type_(device.type()) {
  if (!enabled_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, at::kBFloat16);
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
