#include "data/loader/worker_thread.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>

namespace mae::data::detail {

void keep_this_thread_single_threaded() {
  at::get_num_threads();  // LibTorch's lazy per-thread set-up first, so that it does not undo ours
  using SetNumThreads = void (*)(int);
  static const auto set_num_threads = reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_num_threads != nullptr) set_num_threads(1);
}

}  // namespace mae::data::detail
