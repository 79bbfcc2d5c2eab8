// Private to src/data: what a loader's worker thread sets up before it decodes samples.
#pragma once

namespace mae::data::detail {

// Samples are the unit of parallelism, so LibTorch's kernels inside a worker must not fan out.
// With the OpenMP backend that takes a team size of 1 for this thread alone: at::set_num_threads
// would change it for the whole process (and MKL). Callers add c10::ParallelGuard for the native backend.
void keep_this_thread_single_threaded();

}  // namespace mae::data::detail
