// The CUDA kernels of src/kernels/cuda and the device side of the data path against ATen: the
// masked loss (forward and backward, float32 / bfloat16 / float16 predictions, odd patch sizes,
// rows shorter than a warp and strided predictions) against a float64 reference; uint8 batches
// normalised on the GPU against the CPU's table, bit for bit. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/data/loader/batch_source.h"
#include "mae/data/augment/transforms.h"
#include "mae/kernels/masked_loss.h"
#include "mae/models/mae_vit.h"

using namespace mae;
using mae::testing::tensors_close;

#define REQUIRE_CUDA_KERNELS()                                                    \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";             \
  if (!kernels::cuda_kernels_compiled()) GTEST_SKIP() << "built without a CUDA compiler"

namespace {

struct KernelsOn {
  KernelsOn() { kernels::set_cuda_kernels(true); }
  ~KernelsOn() { kernels::set_cuda_kernels(false); }
};

models::MaeViTOptions shape(int64_t channels, int64_t h, int64_t w, int64_t patch, bool norm_pix) {
  models::MaeViTOptions o;
  o.img_h = h, o.img_w = w, o.patch_size = patch, o.in_chans = channels;
  o.embed_dim = 8, o.depth = 0, o.num_heads = 2;
  o.decoder_embed_dim = 8, o.decoder_depth = 0, o.decoder_num_heads = 2;
  o.norm_pix_loss = norm_pix;
  return o;
}

}  // namespace

TEST(CudaMaskedLoss, RowsAndGradientsMatchFloat64ATen) {
  REQUIRE_CUDA_KERNELS();
  KernelsOn on;
  torch::manual_seed(0);
  const torch::Device cuda(torch::kCUDA);
  // (channels, height, width, patch): 18-value rows (a partial warp), 25 (odd, one channel), ViT-B's 768.
  for (auto [c, h, w, p] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{2, 9, 15, 3}, {1, 10, 15, 5}, {3, 32, 48, 16}}) {
    for (bool norm_pix : {true, false}) {
      models::MaskedAutoencoderViT model(shape(c, h, w, p, norm_pix));
      const int64_t n = 3, l = (h / p) * (w / p), size = p * p * c;
      const auto imgs = torch::randn({n, c, h, w}) * 2 + 0.5;
      const auto target = model->target(imgs.to(torch::kFloat64));
      for (auto type : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
        const std::string what = str("c", c, " p", p, norm_pix ? " norm_pix " : " ", type);
        // A strided prediction, as the decoder's output narrowed past its cls row.
        const auto full = torch::randn({n, l + 1, size}).to(cuda, type);
        const auto pred = full.narrow(1, 1, l).detach().requires_grad_(true);
        ASSERT_TRUE(kernels::masked_loss_fits(imgs.to(cuda), pred, p)) << what;
        const auto rows = kernels::masked_loss_rows(imgs.to(cuda), pred, p, norm_pix);
        const auto pred64 = pred.detach().to(torch::kCPU, torch::kFloat64).requires_grad_(true);
        const auto expected = (pred64 - target).pow(2).mean(-1);
        EXPECT_TRUE(tensors_close(what + " rows", rows, expected, 2e-5, 2e-5));
        const auto row_grad = torch::randn({n, l});
        rows.backward(row_grad.to(cuda));
        expected.backward(row_grad.to(torch::kFloat64));
        const double tol = type == torch::kFloat32 ? 2e-5 : 1e-2;  // the gradient is stored in pred's type
        EXPECT_TRUE(tensors_close(what + " grad", pred.grad(), pred64.grad(), tol, tol * 1e-2));
      }
    }
  }
}

TEST(CudaMaskedLoss, TheModelsLossIsTheSameWithTheKernel) {
  REQUIRE_CUDA_KERNELS();
  torch::manual_seed(1);
  const torch::Device cuda(torch::kCUDA);
  models::MaskedAutoencoderViT model(shape(3, 32, 32, 8, true));
  model->to(cuda);
  const auto imgs = torch::randn({4, 3, 32, 32}).to(cuda);
  const auto pred = torch::randn({4, 16, 192}).to(cuda).requires_grad_(true);
  const auto mask = (torch::rand({4, 16}) < 0.75).to(torch::kFloat32).to(cuda);
  const auto plain = model->forward_loss(imgs, pred, mask);
  const auto plain_grad = torch::autograd::grad({plain}, {pred})[0];
  KernelsOn on;
  ASSERT_TRUE(kernels::masked_loss_fits(imgs, pred, 8));
  const auto fused = model->forward_loss(imgs, pred, mask);
  const auto fused_grad = torch::autograd::grad({fused}, {pred})[0];
  EXPECT_TRUE(tensors_close("loss", fused, plain, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("grad", fused_grad, plain_grad, 1e-4, 1e-7));
}

TEST(CudaDataPath, Uint8ImagesNormaliseOnTheGpuToTheCpuTable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (int64_t c : {1, 3}) {
    std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
    mean.resize(static_cast<size_t>(c)), std.resize(static_cast<size_t>(c));
    const data::Normalize normalize(mean, std);
    // Every byte value in every channel, as [1, C, 16, 16] planes.
    const auto planes = torch::arange(256, torch::kInt32).to(torch::kUInt8).view({1, 1, 16, 16}).repeat({1, c, 1, 1});
    std::vector<float> cpu(static_cast<size_t>(c * 256));
    normalize.apply(planes[0].permute({1, 2, 0}), false, cpu.data());
    data::Batch batch;
    batch.images = planes.pin_memory();
    batch.labels = torch::zeros({1}, torch::kInt64);
    batch.normalize = normalize.device_form();
    const auto gpu = data::to_device(batch, torch::Device(torch::kCUDA)).images;
    ASSERT_TRUE(gpu.is_cuda());
    EXPECT_TRUE(torch::equal(gpu.cpu().view({-1}), torch::tensor(cpu))) << c << " channels";
  }
}
