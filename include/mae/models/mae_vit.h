// The MAE pretraining model, as the official models_mae.py: a ViT encoder over the visible
// patches, a light decoder that reconstructs every patch, and the loss on the masked ones.
// Legend: N batch, C channels, H x W image, p patch, L patches, D encoder width, Dd decoder width,
// K kept patches = int(L * (1 - mask_ratio)).
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "mae/models/block.h"
#include "mae/models/patch_embed.h"

namespace mae::models {

struct MaeViTOptions {
  int64_t img_h = 224, img_w = 224;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t embed_dim = 1024;
  int64_t depth = 24;
  int64_t num_heads = 16;
  int64_t decoder_embed_dim = 512;
  int64_t decoder_depth = 8;
  int64_t decoder_num_heads = 16;
  double mlp_ratio = 4.0;
  double norm_eps = 1e-6;
  bool norm_pix_loss = false;
  bool fused_attn = true;

  int64_t num_patches() const { return (img_h / patch_size) * (img_w / patch_size); }
  // Throws UsageError naming the first invalid field.
  void validate() const;
};

struct MaeOutput {
  torch::Tensor loss;         // [] mean squared error over the masked patches
  torch::Tensor pred;         // [N, L, p*p*C] decoder output (normalised units with norm_pix_loss)
  torch::Tensor mask;         // [N, L] 0 = kept, 1 = removed, original patch order
  torch::Tensor ids_restore;  // [N, L] int64, un-shuffles the kept-then-removed order
};

// Throws UsageError unless mask_ratio lies in [0, 1) and keeps at least one of `patches` (the
// official int(L * (1 - mask_ratio))); `name` is what the message calls it (model.mask_ratio).
void check_mask_ratio(double mask_ratio, int64_t patches, const std::string& name = "mask_ratio");

struct Masking {
  torch::Tensor x_masked;     // [N, K, D]
  torch::Tensor mask;         // [N, L]
  torch::Tensor ids_restore;  // [N, L]
  torch::Tensor ids_keep;     // [N, K] the kept patches' positions, in the order of x_masked
};

class MaskedAutoencoderViTImpl : public torch::nn::Module {
 public:
  explicit MaskedAutoencoderViTImpl(const MaeViTOptions& options);

  // The official initialisation (sin-cos tables, xavier_uniform, normal(0.02) tokens).
  void initialize_weights();

  // imgs: [N, C, H, W] -> [N, L, p*p*C], values inside a patch ordered (p row, p col, C).
  torch::Tensor patchify(const torch::Tensor& imgs) const;
  // x: [N, L, p*p*C] -> [N, C, H, W]
  torch::Tensor unpatchify(const torch::Tensor& x) const;

  // x: [N, L, D]; noise: [N, L] uniform in [0, 1) or undefined to draw it here.
  Masking random_masking(const torch::Tensor& x, double mask_ratio, const torch::Tensor& noise = {}) const;

  // -> latent [N, 1+K, D] (cls first), mask, ids_restore
  Masking forward_encoder(const torch::Tensor& imgs, double mask_ratio, const torch::Tensor& noise = {});
  // latent: [N, 1+K, D] -> pred [N, L, p*p*C]. ids_keep (Masking::ids_keep) spares an argsort of
  // ids_restore.
  torch::Tensor forward_decoder(const torch::Tensor& latent, const torch::Tensor& ids_restore,
                                const torch::Tensor& ids_keep = {});
  // The reconstruction target: patchify(imgs), per-patch normalised with norm_pix_loss.
  torch::Tensor target(const torch::Tensor& imgs) const;
  // -> [] mean over masked patches of the per-patch MSE
  torch::Tensor forward_loss(const torch::Tensor& imgs, const torch::Tensor& pred, const torch::Tensor& mask) const;

  MaeOutput forward(const torch::Tensor& imgs, double mask_ratio = 0.75, const torch::Tensor& noise = {});

  const MaeViTOptions& options() const { return options_; }

  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token, pos_embed, mask_token, decoder_pos_embed;
  torch::nn::ModuleList blocks{nullptr}, decoder_blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr}, decoder_norm{nullptr};
  torch::nn::Linear decoder_embed{nullptr}, decoder_pred{nullptr};

 private:
  MaeViTOptions options_;
};
TORCH_MODULE(MaskedAutoencoderViT);

// Shared by the pretraining and fine-tuning models: xavier_uniform for Linear weights (bias 0),
// LayerNorm weight 1 / bias 0, over every submodule of `module`.
void init_linear_xavier_and_layernorm(torch::nn::Module& module);

}  // namespace mae::models
