#include "mae/train/precision.h"

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>

#include "mae/core/error.h"

namespace mae::train {

void check_precision(const std::string& precision) {
  MAE_CHECK_USAGE(precision == "auto" || precision == "fp32" || precision == "bf16",
                  "train.precision must be auto, fp32 or bf16, got '", precision,
                  "' (fp16 is not offered: its overflow is the usual cause of NaN losses in MAE)");
}

bool wants_bf16(const std::string& precision) {
  check_precision(precision);
  MAE_CHECK(precision != "auto", "train.precision=auto reached the trainer unsettled; settle it first (tasks::choose_precision)");
  return precision == "bf16";
}

bool bf16_hardware(const torch::Device& device, std::string* why) {
  if (device.is_cuda()) {
    *why = "a CUDA GPU";
    return true;
  }
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    for (std::string flag; flags >> flag;) {
      if (flag == "avx512_bf16" || flag == "amx_bf16") {
        *why = "this CPU has " + flag;
        return true;
      }
    }
    break;  // every core lists the same flags
  }
  *why = "this CPU has neither AVX512-BF16 nor AMX, so bf16 would be emulated";
  return false;
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
