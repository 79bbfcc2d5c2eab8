// Whether the CPU kernels under kernels/ run here: an x86 CPU with AVX-512, and threads shared with
// ATen (this folder is built with OpenMP against LibTorch's own runtime; see src/CMakeLists.txt)
// or a single intra-op thread. Where not, callers use ATen's ops, which compute the same.
#pragma once

namespace mae::kernels {

bool available();

// Switches every kernel of this folder off (available() false) or back on, for tests and
// benchmarks that compare them with ATen's ops.
void set_enabled(bool enabled);

}  // namespace mae::kernels
