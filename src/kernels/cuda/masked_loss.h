// Host entry points of the CUDA kernels in masked_loss.cu, on raw device pointers, so that nvcc
// compiles no LibTorch header. kernels/masked_loss.cpp wraps them for autograd.
#pragma once

#include <cstdint>

namespace mae::kernels::cuda {

enum class DType { kFloat32, kBFloat16, kFloat16 };

// imgs: [batch, channels, height, width] float32, contiguous, cut into patch x patch squares.
struct PatchLayout {
  int64_t batch = 0, channels = 0, height = 0, width = 0, patch = 0;
};

// row_loss[n, l] = mean over i of (pred[n, l, i] - target[n, l, i])^2, target = patchify(imgs),
// normalised per patch with norm_pix (MaskedAutoencoderViT::target). pred: rows of
// patch * patch * channels contiguous values, strides in elements. stream: a cudaStream_t.
void masked_loss_rows(const float* imgs, const void* pred, DType pred_type, int64_t pred_stride_n, int64_t pred_stride_l,
                      const PatchLayout& layout, bool norm_pix, float* row_loss, void* stream);

// grad_pred (contiguous [batch, L, patch * patch * channels], pred's type) = row_grad[n, l] times the
// derivative of row_loss[n, l] by pred.
void masked_loss_rows_grad(const float* imgs, const void* pred, DType pred_type, int64_t pred_stride_n,
                           int64_t pred_stride_l, const PatchLayout& layout, bool norm_pix, const float* row_grad,
                           void* grad_pred, void* stream);

}  // namespace mae::kernels::cuda
