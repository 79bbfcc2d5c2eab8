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

// Keeps the memory that tensors free inside the process (glibc malloc: no trimming of the heap
// below 1 GiB free, mmap only for blocks of 256 MiB and more). A training step frees and
// allocates the same sizes every step; handing them back to the kernel makes the next step fault
// in every 4 KiB page again (32,000 page faults per step of the demo model; keeping the memory made
// its step 16 % faster on a 2-core CPU). Leaves malloc alone where the user tuned it (GLIBC_TUNABLES or MALLOC_*_ set).
// Returns whether it changed anything.
bool configure_host_allocator();

// Peak memory in MiB: CUDA's caching allocator peak on a CUDA device, else the process's peak
// resident set size.
double peak_memory_mb(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);

// One line describing the LibTorch build: version, CUDA, BLAS, threads.
std::string describe_runtime();

// "0.1.0" and the LibTorch version the binary was compiled against.
std::string version_string();

}  // namespace mae::core
