#include "mae/models/patch_embed.h"

#include "mae/core/error.h"

namespace mae::models {

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& o) : options_(o) {
  MAE_CHECK_USAGE(o.patch_size > 0 && o.in_chans > 0 && o.embed_dim > 0, "patch_size, in_chans and embed_dim must be positive (got ",
                  o.patch_size, ", ", o.in_chans, ", ", o.embed_dim, ")");
  MAE_CHECK_USAGE(o.img_h > 0 && o.img_w > 0 && o.img_h % o.patch_size == 0 && o.img_w % o.patch_size == 0,
                  "image size ", o.img_h, "x", o.img_w, " is not divisible by patch_size ", o.patch_size,
                  "; pick an image size that is a multiple of the patch size");
  proj = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_chans, o.embed_dim, o.patch_size).stride(o.patch_size)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  MAE_CHECK(x.dim() == 4 && x.size(1) == options_.in_chans && x.size(2) == options_.img_h && x.size(3) == options_.img_w,
              "PatchEmbed expects images [N, ", options_.in_chans, ", ", options_.img_h, ", ", options_.img_w, "], got ",
              x.sizes());
  return proj->forward(x).flatten(2).transpose(1, 2);  // [N, D, gh, gw] -> [N, L, D]
}

}  // namespace mae::models
