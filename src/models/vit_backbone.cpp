#include "mae/models/vit_backbone.h"

#include <cmath>
#include <utility>

#include "mae/core/error.h"
#include "mae/models/pos_embed.h"
#include "mae/models/vision_transformer.h"

namespace mae::models {

std::vector<int64_t> default_out_indices(int64_t depth) {
  MAE_CHECK_USAGE(depth >= 1, "a segmentation backbone needs depth >= 1, got ", depth);
  std::vector<int64_t> out;
  for (int64_t sixths = 2; sixths <= 4; ++sixths) {
    out.push_back(std::max<int64_t>(0, std::llround(static_cast<double>(depth * sixths) / 6.0) - 1));
  }
  out.push_back(depth - 1);
  return out;
}

void check_out_indices(const std::vector<int64_t>& out_indices, int64_t depth) {
  MAE_CHECK_USAGE(!out_indices.empty(), "model.out_indices must name at least one block");
  for (size_t i = 0; i < out_indices.size(); ++i) {
    MAE_CHECK_USAGE(out_indices[i] >= 0 && out_indices[i] < depth, "model.out_indices[", i, "] = ", out_indices[i],
                    " is not a block of a depth-", depth, " encoder (zero-based, 0..", depth - 1, ")");
    MAE_CHECK_USAGE(i == 0 || out_indices[i] >= out_indices[i - 1], "model.out_indices must not decrease, got ",
                    out_indices[i - 1], " before ", out_indices[i]);
  }
}

ViTBackboneImpl::ViTBackboneImpl(const VisionTransformerOptions& o, std::vector<int64_t> out_indices)
    : options_(o), out_indices_(std::move(out_indices)) {
  o.validate();
  check_out_indices(out_indices_, o.depth);
  patch_embed = register_module("patch_embed",
                                PatchEmbed(PatchEmbedOptions{o.img_h, o.img_w, o.patch_size, o.in_chans, o.embed_dim}));
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, o.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, patch_embed->num_patches() + 1, o.embed_dim}));
  BlockOptions block{o.embed_dim, o.num_heads, o.mlp_ratio, true, 0.0, o.norm_eps, o.fused_attn};
  blocks = make_blocks(*this, "blocks", o.depth, block, o.drop_path_rate);
  initialize_weights();
}

void ViTBackboneImpl::initialize_weights() { timm_vit_init(*this, pos_embed, cls_token); }

torch::Tensor ViTBackboneImpl::pos_embed_for(int64_t gh, int64_t gw) const {
  const Grid own{patch_embed->grid_h(), patch_embed->grid_w()};
  if (gh == own.h && gw == own.w) return pos_embed;
  return resize_pos_embed(pos_embed, own, Grid{gh, gw});
}

std::vector<torch::Tensor> ViTBackboneImpl::forward(const torch::Tensor& imgs) {
  const int64_t p = options_.patch_size;
  MAE_CHECK(imgs.dim() == 4 && imgs.size(1) == options_.in_chans && imgs.size(2) > 0 && imgs.size(3) > 0 &&
                imgs.size(2) % p == 0 && imgs.size(3) % p == 0,
            "the segmentation backbone expects images [N, ", options_.in_chans,
            ", H, W] with H and W multiples of the patch size ", p, ", got ", imgs.sizes(), "; pad or crop the image to a multiple of ", p);
  const int64_t gh = imgs.size(2) / p, gw = imgs.size(3) / p;
  // The projection itself: PatchEmbed::forward insists on the options' image size.
  auto x = patch_embed->proj->forward(imgs).flatten(2).transpose(1, 2);  // [N, L, D]
  x = torch::cat({cls_token.expand({x.size(0), -1, -1}), x}, 1) + pos_embed_for(gh, gw);
  std::vector<torch::Tensor> maps;
  for (int64_t i = 0; i <= out_indices_.back(); ++i) {
    x = (*blocks)[i]->as<Block>()->forward(x);
    for (int64_t index : out_indices_) {
      if (index != i) continue;
      auto tokens = x.narrow(1, 1, gh * gw);                                            // [N, L, D]
      maps.push_back(tokens.transpose(1, 2).reshape({x.size(0), x.size(2), gh, gw}));  // [N, D, gh, gw]
    }
  }
  return maps;
}

}  // namespace mae::models
