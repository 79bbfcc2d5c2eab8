// The MAE reconstruction loss on the GPU in two kernels: the per-patch squared error (forward) and
// its gradient (backward), each reading the image's pixels where they are (no patchify copy) and
// normalising the target patch in registers (norm_pix_loss). One warp per patch.
#include "masked_loss.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace mae::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ inline T from_float(float v);
template <> __device__ inline float from_float<float>(float v) { return v; }
template <> __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ inline __half from_float<__half>(float v) { return __float2half(v); }

__device__ inline float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Value i of patch l of image n in patchify's order (patch row, patch column, channel).
struct Patch {
  const float* image = nullptr;  // the patch's top-left pixel of channel 0
  int64_t plane = 0, width = 0;
  int p = 1, c = 1;
  __device__ float operator[](int i) const {
    const int channel = i % c, q = (i / c) % p, r = i / (c * p);
    return image[channel * plane + static_cast<int64_t>(r) * width + q];
  }
};

__device__ inline Patch patch_of(const float* imgs, const PatchLayout& g, int64_t n, int64_t l) {
  const int64_t grid_w = g.width / g.patch, plane = g.height * g.width;
  const int64_t top = (l / grid_w) * g.patch, left = (l % grid_w) * g.patch;
  return Patch{imgs + n * g.channels * plane + top * g.width + left, plane, g.width, static_cast<int>(g.patch),
               static_cast<int>(g.channels)};
}

// The target's normalisation: t = (x - mean) / sqrt(var + 1e-6), var unbiased from the centred
// values (two passes), as MaskedAutoencoderViT::target computes it; identity without norm_pix.
struct TargetScale {
  float mean = 0, std = 1;
};

__device__ inline TargetScale target_scale(const Patch& x, int size, bool norm_pix, int lane) {
  TargetScale s;
  if (!norm_pix) return s;
  float sum = 0;
  for (int i = lane; i < size; i += kWarp) sum += x[i];
  s.mean = warp_sum(sum) / static_cast<float>(size);
  float squares = 0;
  for (int i = lane; i < size; i += kWarp) {
    const float d = x[i] - s.mean;
    squares += d * d;
  }
  s.std = sqrtf(warp_sum(squares) / static_cast<float>(size - 1) + 1e-6f);
  return s;
}

// This warp's patch: its row (n * L + l), the image's pixels, the prediction's values and the
// target's scale. valid is false for the warps past the last patch.
template <typename T>
struct Row {
  bool valid = false;
  int64_t row = 0;
  int lane = 0, size = 0;
  Patch x;
  const T* y = nullptr;
  TargetScale s;
  __device__ float diff(int i) const { return to_float(y[i]) - (x[i] - s.mean) / s.std; }  // pred - target
};

template <typename T>
__device__ Row<T> this_warps_row(const float* imgs, const T* pred, int64_t pred_stride_n, int64_t pred_stride_l,
                                 const PatchLayout& g, bool norm_pix) {
  Row<T> r;
  r.row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  r.lane = static_cast<int>(threadIdx.x % kWarp);
  const int64_t patches = (g.height / g.patch) * (g.width / g.patch);
  if (r.row >= g.batch * patches) return r;
  const int64_t n = r.row / patches, l = r.row % patches;
  r.valid = true;
  r.size = static_cast<int>(g.patch * g.patch * g.channels);
  r.x = patch_of(imgs, g, n, l);
  r.s = target_scale(r.x, r.size, norm_pix, r.lane);
  r.y = pred + n * pred_stride_n + l * pred_stride_l;
  return r;
}

template <typename T>
__global__ void row_loss_kernel(const float* imgs, const T* pred, int64_t pred_stride_n, int64_t pred_stride_l,
                                PatchLayout g, bool norm_pix, float* row_loss) {
  const Row<T> r = this_warps_row(imgs, pred, pred_stride_n, pred_stride_l, g, norm_pix);
  if (!r.valid) return;
  float sum = 0;
  for (int i = r.lane; i < r.size; i += kWarp) {
    const float d = r.diff(i);
    sum += d * d;
  }
  sum = warp_sum(sum);
  if (r.lane == 0) row_loss[r.row] = sum / static_cast<float>(r.size);
}

template <typename T>
__global__ void row_loss_grad_kernel(const float* imgs, const T* pred, int64_t pred_stride_n, int64_t pred_stride_l,
                                     PatchLayout g, bool norm_pix, const float* row_grad, T* grad_pred) {
  const Row<T> r = this_warps_row(imgs, pred, pred_stride_n, pred_stride_l, g, norm_pix);
  if (!r.valid) return;
  T* dy = grad_pred + r.row * r.size;
  // d mean(d^2) / d y_i = 2 d_i / size
  const float scale = row_grad[r.row] * 2.0f / static_cast<float>(r.size);
  for (int i = r.lane; i < r.size; i += kWarp) dy[i] = from_float<T>(r.diff(i) * scale);
}

void check_launch(const char* what) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
}

unsigned blocks_for(const PatchLayout& g) {
  const int64_t rows = g.batch * (g.height / g.patch) * (g.width / g.patch);
  return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

template <typename Launch>
void dispatch(DType type, Launch launch) {
  switch (type) {
    case DType::kFloat32: launch(float{}); break;
    case DType::kBFloat16: launch(__nv_bfloat16{}); break;
    case DType::kFloat16: launch(__half{}); break;
  }
}

}  // namespace

void masked_loss_rows(const float* imgs, const void* pred, DType pred_type, int64_t pred_stride_n, int64_t pred_stride_l,
                      const PatchLayout& layout, bool norm_pix, float* row_loss, void* stream) {
  if (layout.batch == 0) return;
  dispatch(pred_type, [&](auto tag) {
    using T = decltype(tag);
    row_loss_kernel<T><<<blocks_for(layout), kWarp * kWarpsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(
        imgs, static_cast<const T*>(pred), pred_stride_n, pred_stride_l, layout, norm_pix, row_loss);
  });
  check_launch("masked_loss_rows");
}

void masked_loss_rows_grad(const float* imgs, const void* pred, DType pred_type, int64_t pred_stride_n,
                           int64_t pred_stride_l, const PatchLayout& layout, bool norm_pix, const float* row_grad,
                           void* grad_pred, void* stream) {
  if (layout.batch == 0) return;
  dispatch(pred_type, [&](auto tag) {
    using T = decltype(tag);
    row_loss_grad_kernel<T><<<blocks_for(layout), kWarp * kWarpsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(
        imgs, static_cast<const T*>(pred), pred_stride_n, pred_stride_l, layout, norm_pix, row_grad,
        static_cast<T*>(grad_pred));
  });
  check_launch("masked_loss_rows_grad");
}

}  // namespace mae::kernels::cuda
