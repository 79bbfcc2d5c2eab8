#include "weights/scheme_huggingface.h"

#include <array>
#include <iterator>
#include <map>
#include <vector>

#include "mae/core/error.h"

namespace mae::weights::hf {
namespace {

struct NamePair {
  const char* ours;
  const char* hf;
};
// Whole names and name prefixes outside the blocks. A prefix ends with '.'.
constexpr NamePair kTop[] = {
    {"cls_token", "vit.embeddings.cls_token"},
    {"pos_embed", "vit.embeddings.position_embeddings"},
    {"patch_embed.proj.", "vit.embeddings.patch_embeddings.projection."},
    {"norm.", "vit.layernorm."},
    {"mask_token", "decoder.mask_token"},
    {"decoder_pos_embed", "decoder.decoder_pos_embed"},
    {"decoder_embed.", "decoder.decoder_embed."},
    {"decoder_norm.", "decoder.decoder_norm."},
    {"decoder_pred.", "decoder.decoder_pred."},
    {"head.", "classifier."},
};
// The two block lists, then the names inside a block: the names of the Hub's checkpoints
// (transformers 4), which we write and every transformers version reads. The first of each pair
// below is written; all are read.
constexpr NamePair kBlockLists[] = {{"blocks.", "vit.encoder.layer."}, {"decoder_blocks.", "decoder.decoder_layers."}};
constexpr NamePair kInBlock[] = {
    {"norm1.", "layernorm_before."}, {"norm2.", "layernorm_after."}, {"attn.proj.", "attention.output.dense."},
    {"mlp.fc1.", "intermediate.dense."}, {"mlp.fc2.", "output.dense."},
};
constexpr const char* kQkvParts[] = {"attention.attention.query.", "attention.attention.key.", "attention.attention.value."};
// Read too: transformers 5's own module names (vit.layers.{i}.attention.q_proj, mlp.fc1, ...), and
// the decoder names its save_pretrained writes (5.x: decoder.decoder_encoder.layer.{i}).
constexpr NamePair kBlockListsV5[] = {{"blocks.", "vit.layers."}, {"decoder_blocks.", "decoder.decoder_encoder.layer."}};
constexpr NamePair kInBlockV5[] = {{"attn.proj.", "attention.o_proj."}, {"mlp.fc1.", "mlp.fc1."}, {"mlp.fc2.", "mlp.fc2."}};
constexpr const char* kQkvPartsV5[] = {"attention.q_proj.", "attention.k_proj.", "attention.v_proj."};
constexpr const char* kOursQkv = "attn.qkv.";
// HuggingFace's ViTModel (ViTMAEModel) saved on its own has no "vit." in front.
constexpr const char* kBarePrefixes[] = {"embeddings.", "encoder.layer.", "layers.", "layernorm.", "pooler."};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// `name` with `from` replaced by `to` when it equals `from`, or starts with it and `from` ends in '.'.
bool rename(const std::string& name, const std::string& from, const std::string& to, std::string* out) {
  const bool prefix = !from.empty() && from.back() == '.';
  if (prefix ? !starts_with(name, from) : name != from) return false;
  *out = to + name.substr(from.size());
  return true;
}

// Splits "<list prefix><i>.<rest>" into its block index "i." and rest.
bool split_block(const std::string& name, const std::string& list, std::string* index, std::string* rest) {
  if (!starts_with(name, list)) return false;
  const size_t dot = name.find('.', list.size());
  if (dot == std::string::npos || dot == list.size()) return false;
  *index = name.substr(list.size(), dot + 1 - list.size());
  *rest = name.substr(dot + 1);
  return true;
}

}  // namespace

bool is_huggingface_key(const std::string& key) {
  for (const auto& p : kTop) {
    if (starts_with(key, p.hf) && starts_with(p.hf, "vit.")) return true;
  }
  for (const auto& l : kBlockLists) {
    if (starts_with(key, l.hf)) return true;
  }
  for (const auto& l : kBlockListsV5) {
    if (starts_with(key, l.hf)) return true;
  }
  return starts_with(key, "embeddings.patch_embeddings.") || starts_with(key, "encoder.layer.") ||
         key.find(".attention.attention.") != std::string::npos || key.find(".attention.q_proj.") != std::string::npos;
}

Converted to_ours(const NamedTensors& tensors) {
  Converted out;
  bool bare = false;
  for (const auto& [name, t] : tensors) {
    bare = bare || starts_with(name, "embeddings.") || starts_with(name, "encoder.layer.") || starts_with(name, "layers.");
  }
  if (bare) out.notes.push_back("HuggingFace names without the 'vit.' prefix (a ViTModel / ViTMAEModel saved alone)");
  // q, k, v of one block, collected until all three are seen; fused where the first appeared.
  std::map<std::string, std::array<torch::Tensor, 3>> qkv;
  std::map<std::string, size_t> qkv_slot;
  std::vector<NamePair> lists(std::begin(kBlockLists), std::end(kBlockLists));
  lists.insert(lists.end(), std::begin(kBlockListsV5), std::end(kBlockListsV5));
  std::vector<NamePair> in_block(std::begin(kInBlock), std::end(kInBlock));
  in_block.insert(in_block.end(), std::begin(kInBlockV5), std::end(kInBlockV5));
  for (const auto& [source_name, t] : tensors) {
    std::string name = source_name, ours;
    for (const char* p : kBarePrefixes) {
      if (bare && starts_with(name, p)) name = "vit." + name;
    }
    if (starts_with(name, "vit.pooler.")) {
      out.dropped.push_back(source_name);
      continue;
    }
    bool mapped = false;
    for (const auto& l : lists) {
      std::string index, rest;
      if (mapped || !split_block(name, l.hf, &index, &rest)) continue;
      for (int part = 0; part < 6 && !mapped; ++part) {
        std::string param;
        if (rename(rest, part < 3 ? kQkvParts[part] : kQkvPartsV5[part - 3], "", &param)) {
          const std::string fused = str(l.ours, index, kOursQkv, param);
          if (!qkv.count(fused)) {
            qkv_slot[fused] = out.tensors.size();
            out.tensors.emplace_back(fused, torch::Tensor());
          }
          MAE_CHECK(!qkv[fused][part % 3].defined(), "HuggingFace key '", source_name, "' appears twice");
          qkv[fused][part % 3] = t;
          mapped = true;
        }
      }
      for (const auto& in : in_block) {
        if (!mapped && rename(rest, in.hf, in.ours, &ours)) {
          out.tensors.emplace_back(str(l.ours, index, ours), t);
          mapped = true;
        }
      }
    }
    for (const auto& p : kTop) {
      if (!mapped && rename(name, p.hf, p.ours, &ours)) {
        out.tensors.emplace_back(ours, t);
        mapped = true;
      }
    }
    if (!mapped) out.tensors.emplace_back(source_name, t);  // unknown: the load report lists it
  }
  for (const auto& [fused, parts] : qkv) {
    for (int part = 0; part < 3; ++part) {
      MAE_CHECK(parts[part].defined(), "HuggingFace checkpoint lacks '", kQkvParts[part], "' for '", fused,
                "'; query, key and value must all be present to form qkv");
    }
    MAE_CHECK(parts[0].dim() >= 1 && parts[0].sizes() == parts[1].sizes() && parts[0].sizes() == parts[2].sizes(),
              "HuggingFace query/key/value for '", fused, "' have shapes ", parts[0].sizes(), ", ", parts[1].sizes(),
              ", ", parts[2].sizes(), "; they must be equal to form qkv");
    out.tensors[qkv_slot[fused]].second = torch::cat({parts[0], parts[1], parts[2]}, 0);
  }
  if (!qkv.empty()) out.notes.push_back(str("fused HuggingFace query/key/value into qkv for ", qkv.size(), " tensors"));
  return out;
}

NamedTensors from_ours(const NamedTensors& ours) {
  NamedTensors out;
  for (const auto& [name, t] : ours) {
    MAE_CHECK(!starts_with(name, "fc_norm."), "'", name,
              "' has no HuggingFace name: HuggingFace's ViT pools the cls token after vit.layernorm and has no "
              "fc_norm; export this global-pool model with the official scheme");
    MAE_CHECK(!starts_with(name, "head.0.") && !starts_with(name, "head.1."), "'", name,
              "' (the linear-probe BatchNorm head) has no HuggingFace name; export with the official scheme");
    std::string hf;
    bool mapped = false;
    for (const auto& l : kBlockLists) {
      std::string index, rest, param;
      if (mapped || !split_block(name, l.ours, &index, &rest)) continue;
      if (rename(rest, kOursQkv, "", &param)) {
        MAE_CHECK(t.dim() >= 1 && t.size(0) % 3 == 0, "'", name, "' of shape ", t.sizes(), " does not split into q, k, v rows");
        const auto parts = t.chunk(3, 0);
        for (int part = 0; part < 3; ++part) out.emplace_back(str(l.hf, index, kQkvParts[part], param), parts[part]);
        mapped = true;
      }
      for (const auto& in : kInBlock) {
        if (!mapped && rename(rest, in.ours, in.hf, &hf)) {
          out.emplace_back(str(l.hf, index, hf), t);
          mapped = true;
        }
      }
    }
    for (const auto& p : kTop) {
      if (!mapped && rename(name, p.ours, p.hf, &hf)) {
        out.emplace_back(hf, t);
        mapped = true;
      }
    }
    MAE_CHECK(mapped, "'", name, "' has no HuggingFace ViT / ViTMAE name; export with the official scheme");
  }
  return out;
}

}  // namespace mae::weights::hf
