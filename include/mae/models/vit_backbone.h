// The ViT encoder as a dense feature extractor for segmentation (mmsegmentation's MAE backbone):
// the tokens after chosen blocks, cls token dropped, as maps [N, D, gh, gw]. Parameter names are
// the ViT's (patch_embed, cls_token, pos_embed, blocks: the official MAE / timm keys), so a
// pretrained or fine-tuned checkpoint loads one to one. There is no final norm (mmseg's
// final_norm=False). Any image whose sides are multiples of the patch runs: pos_embed is
// resized bicubically when the grid differs from the options' one (mmseg's ViT does the same).
// Legend: N batch, C channels, H x W image, p patch, gh x gw = H/p x W/p grid, D width.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mae/models/block.h"
#include "mae/models/patch_embed.h"
#include "mae/models/vision_transformer.h"

namespace mae::models {

// mmseg's out_indices for depth 12 (3, 5, 7, 11) and 24 (7, 11, 15, 23), at any depth: the
// zero-based blocks that end 1/3, 1/2, 2/3 and all of the depth (rounded).
std::vector<int64_t> default_out_indices(int64_t depth);

// Throws UsageError unless every index lies in [0, depth) and they do not decrease.
void check_out_indices(const std::vector<int64_t>& out_indices, int64_t depth);

class ViTBackboneImpl : public torch::nn::Module {
 public:
  // Reads the encoder fields of `options` (sizes, drop_path_rate, norm_eps, fused_attn); its
  // num_classes, global_pool and probe_head play no part. Drop path rises linearly over the depth.
  ViTBackboneImpl(const VisionTransformerOptions& options, std::vector<int64_t> out_indices);

  // timm's initialisation, as VisionTransformer: normal(0.02) for Linear weights, cls_token and
  // pos_embed, bias 0, LayerNorm 1/0; the patch projection keeps PyTorch's default.
  void initialize_weights();

  // imgs: [N, C, H, W], H and W multiples of p -> one map [N, D, gh, gw] per out index, in order.
  // Blocks after the last out index do not run.
  std::vector<torch::Tensor> forward(const torch::Tensor& imgs);

  // -> [1, 1 + gh*gw, D]: pos_embed itself for the options' grid, else resized (bicubic,
  // align_corners=False, through models::resize_pos_embed).
  torch::Tensor pos_embed_for(int64_t gh, int64_t gw) const;

  const VisionTransformerOptions& options() const { return options_; }
  const std::vector<int64_t>& out_indices() const { return out_indices_; }

  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token, pos_embed;
  torch::nn::ModuleList blocks{nullptr};

 private:
  VisionTransformerOptions options_;
  std::vector<int64_t> out_indices_;
};
TORCH_MODULE(ViTBackbone);

}  // namespace mae::models
