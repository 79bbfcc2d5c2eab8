#include "mae/models/presets.h"

#include <regex>

#include "mae/core/error.h"

namespace mae::models {
namespace {

struct VitSize {
  const char* name;
  int64_t embed_dim, depth, num_heads;
};
constexpr VitSize kSizes[] = {
    {"tiny", 192, 12, 3}, {"small", 384, 12, 6}, {"base", 768, 12, 12}, {"large", 1024, 24, 16}, {"huge", 1280, 32, 16},
};

const VitSize& size_named(const std::string& size) {
  for (const auto& s : kSizes) {
    if (size == s.name) return s;
  }
  throw UsageError("unknown ViT size '" + size + "'");
}

std::string valid_forms() {
  return "mae_vit_{tiny,small,base,large,huge}_patch<P>[_dec<D>d<B>b] or vit_{tiny,small,base,large,huge}_patch<P>, "
         "e.g. mae_vit_base_patch16";
}

}  // namespace

MaeViTOptions mae_preset(const std::string& name) {
  static const std::regex pattern("mae_vit_(tiny|small|base|large|huge)_patch([0-9]+)(?:_dec([0-9]+)d([0-9]+)b)?");
  std::smatch m;
  MAE_CHECK_USAGE(std::regex_match(name, m, pattern), "unknown MAE model '", name, "'; expected ", valid_forms());
  const VitSize& s = size_named(m[1]);
  MaeViTOptions o;
  o.embed_dim = s.embed_dim;
  o.depth = s.depth;
  o.num_heads = s.num_heads;
  o.patch_size = std::stoll(m[2]);
  if (m[3].matched) {
    o.decoder_embed_dim = std::stoll(m[3]);
    o.decoder_depth = std::stoll(m[4]);
  }
  return o;
}

VisionTransformerOptions vit_preset(const std::string& name) {
  static const std::regex pattern("vit_(tiny|small|base|large|huge)_patch([0-9]+)");
  std::smatch m;
  MAE_CHECK_USAGE(std::regex_match(name, m, pattern), "unknown ViT model '", name, "'; expected ", valid_forms());
  const VitSize& s = size_named(m[1]);
  VisionTransformerOptions o;
  o.embed_dim = s.embed_dim;
  o.depth = s.depth;
  o.num_heads = s.num_heads;
  o.patch_size = std::stoll(m[2]);
  return o;
}

std::vector<std::string> preset_names() {
  return {"mae_vit_tiny_patch16", "mae_vit_small_patch16", "mae_vit_base_patch16", "mae_vit_large_patch16",
          "mae_vit_huge_patch14", "vit_tiny_patch16",     "vit_small_patch16",    "vit_base_patch16",
          "vit_large_patch16",    "vit_huge_patch14"};
}

namespace {

// The keys both model kinds share, after model.name.
void add_encoder_keys(core::Config& c) {
  using core::ValueType;
  c.add("model.img_size", ValueType::kInt, "224", "square input size in pixels");
  c.add("model.img_h", ValueType::kInt, "0", "input height (0: img_size)");
  c.add("model.img_w", ValueType::kInt, "0", "input width (0: img_size)");
  c.add("model.in_chans", ValueType::kInt, "3", "input channels (1 for grey images)");
  c.add("model.patch_size", ValueType::kInt, "0", "patch size (0: the preset's)");
  c.add("model.embed_dim", ValueType::kInt, "0", "encoder width (0: the preset's)");
  c.add("model.depth", ValueType::kInt, "0", "encoder blocks (0: the preset's)");
  c.add("model.num_heads", ValueType::kInt, "0", "encoder heads (0: the preset's)");
  c.add("model.mlp_ratio", ValueType::kFloat, "4.0", "MLP hidden width / width");
  c.add("model.fused_attn", ValueType::kBool, "true", "use scaled_dot_product_attention where it is faster: CUDA, CPU fp32 (false: explicit matmuls everywhere)");
}

// A size key: 0 keeps the preset's value. So does a key left at the built-in default when the
// user names another preset (model.name=mae_vit_base_patch16 means ViT-B, not the built-in
// default's 128-wide encoder); a size set explicitly wins over the preset.
void override_if_set(const core::Config& c, const char* key, int64_t* field) {
  const int64_t v = c.get_int(key);
  MAE_CHECK_USAGE(v >= 0, key, " must be >= 0, got ", v);
  if (v > 0 && !(c.is_default(key) && !c.is_default("model.name"))) *field = v;
}

// Image size, channels and the encoder's shape from model.*, over a preset's values.
template <typename Options>
void apply_encoder_keys(const core::Config& c, Options* o) {
  const int64_t size = c.get_int("model.img_size");
  o->img_h = o->img_w = size;
  override_if_set(c, "model.img_h", &o->img_h);
  override_if_set(c, "model.img_w", &o->img_w);
  o->in_chans = c.get_int("model.in_chans");
  override_if_set(c, "model.patch_size", &o->patch_size);
  override_if_set(c, "model.embed_dim", &o->embed_dim);
  override_if_set(c, "model.depth", &o->depth);
  override_if_set(c, "model.num_heads", &o->num_heads);
  o->mlp_ratio = c.get_float("model.mlp_ratio");
  o->fused_attn = c.get_bool("model.fused_attn");
}

}  // namespace

void add_model_config(core::Config& c) {
  using core::ValueType;
  c.add("model.name", ValueType::kString, "mae_vit_base_patch16", "preset: mae_vit_<size>_patch<P>[_dec<D>d<B>b]");
  add_encoder_keys(c);
  c.add("model.decoder_embed_dim", ValueType::kInt, "0", "decoder width (0: the preset's, 512)");
  c.add("model.decoder_depth", ValueType::kInt, "0", "decoder blocks (0: the preset's, 8)");
  c.add("model.decoder_num_heads", ValueType::kInt, "0", "decoder heads (0: the preset's, 16)");
  c.add("model.norm_pix_loss", ValueType::kBool, "true", "normalise each target patch by its mean and variance");
  c.add("model.mask_ratio", ValueType::kFloat, "0.75", "share of patches removed");
}

void add_vit_config(core::Config& c) {
  using core::ValueType;
  c.add("model.name", ValueType::kString, "vit_base_patch16", "preset: vit_<size>_patch<P> (or mae_vit_...: its encoder)");
  add_encoder_keys(c);
  c.add("model.global_pool", ValueType::kBool, "true", "average the patch tokens + fc_norm (false: cls token after norm)");
  c.add("model.drop_path", ValueType::kFloat, "0.1", "stochastic depth rate of the last block (rises linearly from 0)");
  c.add("model.num_classes", ValueType::kInt, "0", "classes of the head (0: from the data)");
  c.add("model.probe_head", ValueType::kBool, "false", "head = BatchNorm1d(affine=False) + Linear, as the linear probe");
}

VisionTransformerOptions vit_options_from_config(const core::Config& c) {
  const std::string& name = c.get_string("model.name");
  VisionTransformerOptions o;
  if (name.rfind("mae_", 0) == 0) {
    const MaeViTOptions m = mae_preset(name);
    o.embed_dim = m.embed_dim, o.depth = m.depth, o.num_heads = m.num_heads, o.patch_size = m.patch_size;
  } else {
    o = vit_preset(name);
  }
  apply_encoder_keys(c, &o);
  o.global_pool = c.get_bool("model.global_pool");
  o.drop_path_rate = c.get_float("model.drop_path");
  o.num_classes = c.get_int("model.num_classes");
  o.probe_head = c.get_bool("model.probe_head");
  o.validate();
  return o;
}

MaeViTOptions mae_options_from_config(const core::Config& c) {
  MaeViTOptions o = mae_preset(c.get_string("model.name"));
  apply_encoder_keys(c, &o);
  override_if_set(c, "model.decoder_embed_dim", &o.decoder_embed_dim);
  override_if_set(c, "model.decoder_depth", &o.decoder_depth);
  override_if_set(c, "model.decoder_num_heads", &o.decoder_num_heads);
  o.norm_pix_loss = c.get_bool("model.norm_pix_loss");
  o.validate();
  return o;
}

}  // namespace mae::models
