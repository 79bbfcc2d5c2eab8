// mmsegmentation's Feature2Pyramid neck: four single-scale ViT maps become a pyramid at 4, 2, 1
// and 1/2 times the patch grid, as ViTDet / BEiT do for UPerNet. Names as mmseg's:
// upsample_4x.{0,1,3} (ConvTranspose2d, BatchNorm2d, GELU, ConvTranspose2d), upsample_2x.0.
// Legend: N batch, D width, gh x gw patch grid.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace mae::models {

class Feature2PyramidImpl : public torch::nn::Module {
 public:
  // bn_eps: mmseg's SyncBN default. The transposed convolutions keep PyTorch's default init, as
  // mmseg's neck does.
  explicit Feature2PyramidImpl(int64_t embed_dim, double bn_eps = 1e-5);

  // maps: 4 x [N, D, gh, gw] -> [N, D, 4gh, 4gw], [N, D, 2gh, 2gw], [N, D, gh, gw],
  // [N, D, gh/2, gw/2] (max pool 2, floor)
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& maps);

  torch::nn::Sequential upsample_4x{nullptr}, upsample_2x{nullptr};
  torch::nn::MaxPool2d downsample_2x{nullptr};
};
TORCH_MODULE(Feature2Pyramid);

}  // namespace mae::models
