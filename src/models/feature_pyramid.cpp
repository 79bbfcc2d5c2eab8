#include "mae/models/feature_pyramid.h"

#include "mae/core/error.h"

namespace mae::models {

namespace {

torch::nn::ConvTranspose2d upsample_2(int64_t dim) {
  return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(dim, dim, 2).stride(2));
}

}  // namespace

Feature2PyramidImpl::Feature2PyramidImpl(int64_t embed_dim, double bn_eps) {
  MAE_CHECK_USAGE(embed_dim > 0, "Feature2Pyramid needs a positive width, got ", embed_dim);
  upsample_4x = register_module(
      "upsample_4x", torch::nn::Sequential(upsample_2(embed_dim),
                                           torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(embed_dim).eps(bn_eps)),
                                           torch::nn::GELU(), upsample_2(embed_dim)));
  upsample_2x = register_module("upsample_2x", torch::nn::Sequential(upsample_2(embed_dim)));
  downsample_2x = register_module("downsample_2x", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
}

std::vector<torch::Tensor> Feature2PyramidImpl::forward(const std::vector<torch::Tensor>& maps) {
  MAE_CHECK(maps.size() == 4, "Feature2Pyramid takes 4 maps (out_indices of 4 blocks), got ", maps.size());
  MAE_CHECK(maps[3].dim() == 4 && maps[3].size(2) >= 2 && maps[3].size(3) >= 2,
            "Feature2Pyramid halves the last map, which needs a patch grid of at least 2x2, got ", maps[3].sizes(),
            "; use a larger image");
  return {upsample_4x->forward(maps[0]), upsample_2x->forward(maps[1]), maps[2], downsample_2x->forward(maps[3])};
}

}  // namespace mae::models
