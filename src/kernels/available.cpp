#include "mae/kernels/available.h"

#include <atomic>

#include <ATen/Parallel.h>

namespace mae::kernels {
namespace {

std::atomic<bool> enabled{true};

}  // namespace

void set_enabled(bool on) { enabled = on; }

bool available() {
  if (!enabled) return false;
#if defined(__x86_64__)
  static const bool cpu = __builtin_cpu_supports("avx512f");
#else
  constexpr bool cpu = false;
#endif
#ifdef _OPENMP
  return cpu;
#else
  return cpu && at::get_num_threads() == 1;  // at::parallel_for would run serially here
#endif
}

}  // namespace mae::kernels
