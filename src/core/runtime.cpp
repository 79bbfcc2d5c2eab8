#include "mae/core/runtime.h"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include <torch/version.h>

#include "mae/core/error.h"

#ifdef MAE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#ifndef MAE_VERSION
#define MAE_VERSION "unknown"
#endif

namespace mae::core {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(spec);
  } catch (const std::exception&) {
    throw UsageError(str("device '", spec, "' is not one of auto, cpu, cuda, cuda:N"));
  }
  MAE_CHECK_USAGE(device.is_cpu() || device.is_cuda(), "device '", spec,
                  "' is not supported; use auto, cpu, cuda or cuda:N");
  if (device.is_cuda()) {
    MAE_CHECK_USAGE(torch::cuda::is_available(), "device '", spec,
                    "' was asked for but no CUDA device is visible; use --device cpu");
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    const int64_t index = device.has_index() ? device.index() : 0;
    MAE_CHECK_USAGE(index < count, "device '", spec, "' does not exist: ", count,
                    " CUDA device(s) visible");
  }
  return device;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int configure_threads(int threads) {
  const int n = threads > 0 ? threads : usable_cores();
  torch::set_num_threads(n);
  return n;
}

bool configure_host_allocator() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return false;
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return false;
  // Setting either threshold also turns off glibc's own adjustment of both.
  return ::mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && ::mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#else
  return false;
#endif
}

double peak_memory_mb(const torch::Device& device) {
#ifdef MAE_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 20);  // [0]: all pools
  }
#endif
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

void reset_peak_memory(const torch::Device& device) {
#ifdef MAE_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

std::string describe_runtime() {
  std::string cuda = "none";
  if (torch::cuda::is_available()) {
    cuda = str(torch::cuda::device_count(), " device(s)");
  }
  return str("LibTorch ", TORCH_VERSION, ", CUDA ", cuda, ", intra-op threads ",
             torch::get_num_threads(), ", mkldnn ", at::hasMKLDNN() ? "yes" : "no", ", mkl ", at::hasMKL() ? "yes" : "no");
}

std::string version_string() { return str("mae ", MAE_VERSION, " (LibTorch ", TORCH_VERSION, ")"); }

}  // namespace mae::core
