#include "mae/kernels/masked_loss.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "mae/core/error.h"

#if MAE_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/masked_loss.h"
#endif

namespace mae::kernels {
namespace {

std::atomic<bool>& switched_on() {
  static std::atomic<bool> on{[] {
    const char* value = std::getenv("MAE_CUDA_KERNELS");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }()};
  return on;
}

#if MAE_WITH_CUDA_KERNELS
cuda::DType dtype_of(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return cuda::DType::kFloat32;
    case torch::kBFloat16: return cuda::DType::kBFloat16;
    case torch::kFloat16: return cuda::DType::kFloat16;
    default: throw Error(str("masked_loss_rows: pred of type ", t.scalar_type(), " (float32, bfloat16 or float16 only)"));
  }
}

cuda::PatchLayout layout_of(const torch::Tensor& imgs, int64_t patch) {
  return cuda::PatchLayout{imgs.size(0), imgs.size(1), imgs.size(2), imgs.size(3), patch};
}

void* stream_of(const torch::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

class MaskedLossRows : public torch::autograd::Function<MaskedLossRows> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& imgs, const torch::Tensor& pred,
                               int64_t patch, bool norm_pix) {
    const c10::cuda::CUDAGuard guard(imgs.device());
    auto rows = torch::empty({pred.size(0), pred.size(1)}, imgs.options());
    cuda::masked_loss_rows(imgs.data_ptr<float>(), pred.data_ptr(), dtype_of(pred), pred.stride(0), pred.stride(1),
                           layout_of(imgs, patch), norm_pix, rows.data_ptr<float>(), stream_of(imgs));
    ctx->save_for_backward({imgs, pred});
    ctx->saved_data["patch"] = patch;
    ctx->saved_data["norm_pix"] = norm_pix;
    return rows;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& imgs = saved[0];
    const auto& pred = saved[1];
    const c10::cuda::CUDAGuard guard(imgs.device());
    const auto row_grad = grads[0].to(torch::kFloat32).contiguous();
    auto grad_pred = torch::empty({pred.size(0), pred.size(1), pred.size(2)}, pred.options());
    cuda::masked_loss_rows_grad(imgs.data_ptr<float>(), pred.data_ptr(), dtype_of(pred), pred.stride(0), pred.stride(1),
                                layout_of(imgs, ctx->saved_data["patch"].toInt()), ctx->saved_data["norm_pix"].toBool(),
                                row_grad.data_ptr<float>(), grad_pred.data_ptr(), stream_of(imgs));
    return {torch::Tensor(), grad_pred, torch::Tensor(), torch::Tensor()};
  }
};
#endif

}  // namespace

bool cuda_kernels_compiled() {
#if MAE_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool cuda_kernels_enabled() { return cuda_kernels_compiled() && switched_on(); }

void set_cuda_kernels(bool enabled) { switched_on() = enabled; }

bool masked_loss_fits(const torch::Tensor& imgs, const torch::Tensor& pred, int64_t patch) {
  if (!cuda_kernels_enabled() || !imgs.is_cuda() || imgs.scalar_type() != torch::kFloat32 || !imgs.is_contiguous() ||
      imgs.dim() != 4 || pred.dim() != 3 || pred.device() != imgs.device() || pred.stride(2) != 1) {
    return false;
  }
  const auto type = pred.scalar_type();
  return (type == torch::kFloat32 || type == torch::kBFloat16 || type == torch::kFloat16) && patch > 0 &&
         imgs.size(2) % patch == 0 && imgs.size(3) % patch == 0 && pred.size(0) == imgs.size(0) &&
         pred.size(1) == (imgs.size(2) / patch) * (imgs.size(3) / patch) && pred.size(2) == patch * patch * imgs.size(1);
}

torch::Tensor masked_loss_rows(const torch::Tensor& imgs, const torch::Tensor& pred, int64_t patch, bool norm_pix) {
#if MAE_WITH_CUDA_KERNELS
  MAE_CHECK(masked_loss_fits(imgs, pred, patch), "masked_loss_rows: unsupported inputs: images ", imgs.sizes(), " ",
            imgs.scalar_type(), " on ", imgs.device(), ", pred ", pred.sizes(), " ", pred.scalar_type(), ", patch ", patch,
            " (or the kernels are off: MAE_CUDA_KERNELS=1)");
  return MaskedLossRows::apply(imgs, pred, patch, norm_pix);
#else
  throw Error("masked_loss_rows: this build has no CUDA kernels (no CUDA compiler was found when it was configured)");
#endif
}

}  // namespace mae::kernels
