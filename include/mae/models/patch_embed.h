// Image to patch tokens: a p x p convolution with stride p (timm's PatchEmbed).
// Legend: N batch, C channels, H x W image, p patch, L = (H/p)*(W/p) patches, D width.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

struct PatchEmbedOptions {
  int64_t img_h = 224, img_w = 224;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t embed_dim = 768;
};

class PatchEmbedImpl : public torch::nn::Module {
 public:
  // Throws UsageError when the image is not divisible into patches.
  explicit PatchEmbedImpl(const PatchEmbedOptions& options);
  // x: [N, C, H, W] -> [N, L, D]
  torch::Tensor forward(const torch::Tensor& x);

  int64_t grid_h() const { return options_.img_h / options_.patch_size; }
  int64_t grid_w() const { return options_.img_w / options_.patch_size; }
  int64_t num_patches() const { return grid_h() * grid_w(); }
  const PatchEmbedOptions& options() const { return options_; }

  torch::nn::Conv2d proj{nullptr};

 private:
  PatchEmbedOptions options_;
};
TORCH_MODULE(PatchEmbed);

}  // namespace mae::models
