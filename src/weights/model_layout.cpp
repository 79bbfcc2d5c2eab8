#include "weights/model_layout.h"

#include "mae/weights/key_schemes.h"
#include "mae/models/mae_vit.h"
#include "mae/models/patch_embed.h"

namespace mae::weights {

ModelLayout describe_model(torch::nn::Module& model) {
  ModelLayout m;
  // Only the pretraining model has fixed sin-cos tables (pos_embed, decoder_pos_embed without
  // gradient). Frozen parameters elsewhere (a linear probe's encoder, partial fine-tuning, a frozen
  // ViT pos_embed) are ordinary weights: loaded, and resized for another grid.
  const bool has_fixed_tables = dynamic_cast<const models::MaskedAutoencoderViTImpl*>(&model) != nullptr;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    m.order.push_back(p.key());
    m.tensors.emplace(p.key(), p.value());
    if (has_fixed_tables && !p.value().requires_grad()) m.fixed.insert(p.key());
  }
  for (const auto& b : model.named_buffers(/*recurse=*/true)) {
    m.order.push_back(b.key());
    m.tensors.emplace(b.key(), b.value());
  }
  for (const auto& name : m.order) {
    const KeyPart part = key_part(name);
    m.has_decoder = m.has_decoder || part == KeyPart::kDecoder;
    m.has_norm = m.has_norm || part == KeyPart::kNorm;
    m.has_fc_norm = m.has_fc_norm || part == KeyPart::kFcNorm;
  }
  if (m.has("head.weight")) m.head = HeadKind::kLinear;
  if (m.has("head.1.weight")) m.head = HeadKind::kProbe;
  for (const auto& item : model.named_modules()) {
    if (const auto* pe = item.value()->as<models::PatchEmbedImpl>(); pe && item.key() == "patch_embed") {
      m.grid = Grid{pe->grid_h(), pe->grid_w()};
      m.patch_size = pe->options().patch_size;
    }
    if (const auto* ln = item.value()->as<torch::nn::LayerNorm>(); ln && !m.layer_norm_eps) {
      m.layer_norm_eps = ln->options.eps();
    }
  }
  return m;
}

}  // namespace mae::weights
