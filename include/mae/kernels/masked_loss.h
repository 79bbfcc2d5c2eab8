// The MAE reconstruction loss through the CUDA kernels of src/kernels/cuda/masked_loss.cu: the
// per-patch squared error read straight from the images (no patchify copy, no target tensor, no
// difference saved for backward), norm_pix_loss included. They are compiled wherever CMake finds
// a CUDA compiler, and stay off until a GPU run has checked them against ATen (tests/gpu): set
// MAE_CUDA_KERNELS=1 in the environment (or set_cuda_kernels(true)) to use them.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::kernels {

bool cuda_kernels_compiled();
// Compiled, and switched on (MAE_CUDA_KERNELS=1 or set_cuda_kernels(true)).
bool cuda_kernels_enabled();
void set_cuda_kernels(bool enabled);

// Whether masked_loss_rows takes these: enabled; imgs [N, C, H, W] float32 contiguous on a CUDA
// device; pred [N, L, patch * patch * C] float32, bfloat16 or float16 on it, rows contiguous.
bool masked_loss_fits(const torch::Tensor& imgs, const torch::Tensor& pred, int64_t patch);

// [N, L] float32: mean over a patch of (pred - target)^2, target = patchify(imgs), normalised per
// patch (mean 0, unbiased variance 1 + 1e-6) with norm_pix. Differentiable in pred.
torch::Tensor masked_loss_rows(const torch::Tensor& imgs, const torch::Tensor& pred, int64_t patch, bool norm_pix);

}  // namespace mae::kernels
