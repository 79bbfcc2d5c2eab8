// Naming schemes of MAE / ViT weights and the one mapping table between them and ours. Our names
// are the official MAE / timm state-dict keys (../shared/REFERENCE.md); the other schemes are
//   easycv       "encoder." + encoder keys, "decoder." + decoder keys (EasyCV's MAE backbone + neck)
//   huggingface  ViTMAE / ViT: vit.embeddings.*, vit.encoder.layer.{i}.attention.attention.{query,key,value}
//                (our qkv split in three), decoder.decoder_layers.{i}.*, vit.layernorm, classifier.
//                HuggingFace's LayerNorm eps defaults to 1e-12 (config.layer_norm_eps); ours is 1e-6.
#pragma once

#include <string>
#include <vector>

#include "mae/core/choice.h"
#include "mae/io/safetensors.h"

namespace mae::weights {

using io::NamedTensors;  // weights travel as the formats' name -> tensor maps

enum class Scheme { kOfficial, kEasyCV, kHuggingFace };
// "official" (timm uses the same names; "timm" is accepted too), "easycv", "huggingface" ("hf").
inline constexpr core::Choice<Scheme> kSchemeNames[] = {{Scheme::kOfficial, "official"},   {Scheme::kOfficial, "timm"},
                                                        {Scheme::kEasyCV, "easycv"},       {Scheme::kHuggingFace, "huggingface"},
                                                        {Scheme::kHuggingFace, "hf"}};

std::string scheme_name(Scheme scheme);
// Throws UsageError listing the names otherwise.
Scheme parse_scheme(const std::string& name);
// The LayerNorm eps the scheme's code uses by default: 1e-12 for HuggingFace, 1e-6 otherwise.
double default_layer_norm_eps(Scheme scheme);

// Decides the scheme from the keys (after strip_wrapper_prefixes).
Scheme detect_scheme(const NamedTensors& tensors);

// Strips prefixes that every key shares and that only wrappers add: "module."
// (DistributedDataParallel), "_orig_mod." (torch.compile), "model.", "state_dict.". Returns them,
// joined, or "" when none.
std::string strip_wrapper_prefixes(NamedTensors* tensors);

// The part of the model an official key belongs to: the decoder (decoder_*, mask_token), the
// head, fc_norm, norm (the encoder's final norm) or the encoder (everything else). The names are
// the load report's group names.
enum class KeyPart { kEncoder, kDecoder, kHead, kFcNorm, kNorm };
inline constexpr core::Choice<KeyPart> kKeyPartNames[] = {{KeyPart::kEncoder, "encoder"}, {KeyPart::kDecoder, "decoder"},
                                                          {KeyPart::kHead, "head"},       {KeyPart::kFcNorm, "fc_norm"},
                                                          {KeyPart::kNorm, "norm"}};
KeyPart key_part(const std::string& official_key);
// `tensors` without the decoder group: what fine-tuning and feature extraction use.
NamedTensors select_encoder(const NamedTensors& tensors);

struct Converted {
  NamedTensors tensors;              // under our (official) names, in source order
  std::vector<std::string> dropped;  // source keys without a counterpart by design (HF's pooler)
  std::vector<std::string> notes;
};
// Source names -> ours. HuggingFace query/key/value are fused into qkv (q rows first). Keys the
// scheme does not know pass through unchanged, for the load report to list as unexpected.
Converted from_scheme(const NamedTensors& tensors, Scheme scheme);
// Our names -> `scheme`, for export. Throws mae::Error for a key the scheme cannot express
// (HuggingFace has no fc_norm or BatchNorm probe head; EasyCV's names cover the pretraining model).
NamedTensors to_scheme(const NamedTensors& ours, Scheme scheme);

}  // namespace mae::weights
