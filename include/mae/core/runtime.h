// Run-time choices of where and how to compute: device and thread count.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::core {

// "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N". Throws UsageError for
// anything else, or when CUDA is asked for and none is available.
torch::Device resolve_device(const std::string& spec);

// The cores this process may run on (its CPU affinity), at least 1.
int usable_cores();

// Sets LibTorch's intra-op thread count: `threads` > 0 as given, otherwise one per core this
// process may run on (LibTorch may otherwise default to 1). Returns the count in effect.
int configure_threads(int threads);

// Peak memory in MiB: CUDA's caching allocator peak on a CUDA device, else the process's peak
// resident set size.
double peak_memory_mb(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);

// One line describing the LibTorch build: version, CUDA, BLAS, threads.
std::string describe_runtime();

// "0.1.0" and the LibTorch version the binary was compiled against.
std::string version_string();

}  // namespace mae::core
