#include "mae/train/precision.h"

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>

#include "mae/core/error.h"

namespace mae::train {

const char* precision_name(Precision precision) { return core::choice_name(kPrecisionNames, precision); }

void check_settled(Precision precision) {
  MAE_CHECK(precision != Precision::kAuto,
            "train.precision=auto reached the trainer unsettled; settle it first (tasks::choose_precision)");
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

void set_tf32(bool enabled) {
  at::globalContext().setFloat32MatmulPrecision(enabled ? "high" : "highest");
  at::globalContext().setAllowTF32CuDNN(enabled);
}

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision)
    : enabled_(precision != Precision::kFp32), device_type_(device.type()) {
  check_settled(precision);
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
