// The encoder-only ViT for fine-tuning and evaluation (MAE's models_vit.py on timm's
// VisionTransformer): no masking, learnable pos_embed, then either global average pooling of the
// patch tokens + fc_norm (default) or the cls token after norm, then head.
// Legend: N batch, C channels, H x W image, L patches, D width, K classes.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "mae/models/block.h"
#include "mae/models/patch_embed.h"

namespace mae::models {

struct VisionTransformerOptions {
  int64_t img_h = 224, img_w = 224;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t num_classes = 1000;  // 0: no head, forward returns features
  int64_t embed_dim = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  double drop_path_rate = 0.0;
  double norm_eps = 1e-6;
  bool global_pool = true;
  // The linear probe's head: head.0 BatchNorm1d(affine=False, eps 1e-6), head.1 Linear.
  bool probe_head = false;
  bool fused_attn = true;

  void validate() const;
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VisionTransformerOptions& options);

  // timm's initialisation: normal(0.02) for Linear weights, cls_token and pos_embed (timm's
  // trunc_normal with bounds +-2 never truncates at std 0.02), bias 0, LayerNorm 1/0.
  void initialize_weights();

  // imgs: [N, C, H, W] -> tokens [N, 1+L, D] after the blocks (no final norm)
  torch::Tensor forward_tokens(const torch::Tensor& imgs);
  // -> [N, D]: pooled + fc_norm, or norm + cls token
  torch::Tensor forward_features(const torch::Tensor& imgs);
  // -> [N, K] logits (or [N, D] features without a head)
  torch::Tensor forward(const torch::Tensor& imgs);

  const VisionTransformerOptions& options() const { return options_; }
  // Re-initialises the head's Linear: weight normal(0, std) (the official trunc_normal at std
  // 2e-5 / 0.01 never truncates), bias 0.
  void reset_head(double std);

  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token, pos_embed;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr}, fc_norm{nullptr};  // exactly one is set
  torch::nn::Linear head{nullptr};   // the Linear of either head kind
  torch::nn::Sequential probe_head{nullptr};  // set with options.probe_head (registered as "head")

 private:
  VisionTransformerOptions options_;
};
TORCH_MODULE(VisionTransformer);

// timm's ViT initialisation of `vit`'s own tensors and submodules: normal(0.02) for Linear weights,
// cls_token and pos_embed (timm's trunc_normal with bounds +-2 never truncates at std 0.02), bias
// 0, LayerNorm 1/0.
void timm_vit_init(torch::nn::Module& vit, torch::Tensor& pos_embed, torch::Tensor& cls_token);

}  // namespace mae::models
