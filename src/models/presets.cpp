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
    {"mini", 128, 6, 4},  {"tiny", 192, 12, 3}, {"small", 384, 12, 6}, {"base", 768, 12, 12}, {"large", 1024, 24, 16}, {"huge", 1280, 32, 16},
};

// A size word ("base") or explicit "<width>d<depth>b<heads>h" ("128d6b4h").
VitSize size_named(const std::string& size) {
  for (const auto& s : kSizes) {
    if (size == s.name) return s;
  }
  static const std::regex explicit_size("([0-9]+)d([0-9]+)b([0-9]+)h");
  std::smatch m;
  MAE_CHECK_USAGE(std::regex_match(size, m, explicit_size), "unknown ViT size '", size, "'");
  return {"", std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3])};
}

constexpr const char* kSizePattern = "(mini|tiny|small|base|large|huge|[0-9]+d[0-9]+b[0-9]+h)";

std::string valid_forms() {
  return "mae_vit_<size>_patch<P>[_dec<D>d<B>b[<H>h]] or vit_<size>_patch<P>, size one of mini, tiny, small, base, "
         "large, huge or <width>d<depth>b<heads>h; e.g. mae_vit_base_patch16";
}

}  // namespace

MaeViTOptions mae_preset(const std::string& name) {
  static const std::regex pattern(std::string("mae_vit_") + kSizePattern + "_patch([0-9]+)(?:_dec([0-9]+)d([0-9]+)b(?:([0-9]+)h)?)?");
  std::smatch m;
  MAE_CHECK_USAGE(std::regex_match(name, m, pattern), "unknown MAE model '", name, "'; expected ", valid_forms());
  const VitSize s = size_named(m[1]);
  MaeViTOptions o;
  o.embed_dim = s.embed_dim;
  o.depth = s.depth;
  o.num_heads = s.num_heads;
  o.patch_size = std::stoll(m[2]);
  if (m[3].matched) {
    o.decoder_embed_dim = std::stoll(m[3]);
    o.decoder_depth = std::stoll(m[4]);
    if (m[5].matched) o.decoder_num_heads = std::stoll(m[5]);
  }
  return o;
}

VisionTransformerOptions vit_preset(const std::string& name) {
  static const std::regex pattern(std::string("vit_") + kSizePattern + "_patch([0-9]+)");
  std::smatch m;
  MAE_CHECK_USAGE(std::regex_match(name, m, pattern), "unknown ViT model '", name, "'; expected ", valid_forms());
  const VitSize s = size_named(m[1]);
  VisionTransformerOptions o;
  o.embed_dim = s.embed_dim;
  o.depth = s.depth;
  o.num_heads = s.num_heads;
  o.patch_size = std::stoll(m[2]);
  return o;
}

std::vector<std::string> preset_names() {
  return {"mae_vit_mini_patch4_dec64d2b4h", "mae_vit_tiny_patch16", "mae_vit_small_patch16", "mae_vit_base_patch16", "mae_vit_large_patch16",
          "mae_vit_huge_patch14", "vit_tiny_patch16",     "vit_small_patch16",    "vit_base_patch16",
          "vit_large_patch16",    "vit_huge_patch14"};
}

namespace {

std::string size_word(int64_t embed_dim, int64_t depth, int64_t num_heads) {
  for (const auto& s : kSizes) {
    if (s.embed_dim == embed_dim && s.depth == depth && s.num_heads == num_heads) return s.name;
  }
  return str(embed_dim, "d", depth, "b", num_heads, "h");
}

}  // namespace

std::string mae_name(const MaeViTOptions& o) {
  std::string name = "mae_vit_" + size_word(o.embed_dim, o.depth, o.num_heads) + "_patch" + std::to_string(o.patch_size);
  const MaeViTOptions official;
  if (o.decoder_embed_dim != official.decoder_embed_dim || o.decoder_depth != official.decoder_depth ||
      o.decoder_num_heads != official.decoder_num_heads) {
    name += str("_dec", o.decoder_embed_dim, "d", o.decoder_depth, "b");
    if (o.decoder_num_heads != official.decoder_num_heads) name += str(o.decoder_num_heads, "h");
  }
  return name;
}

std::string vit_name(const VisionTransformerOptions& o) {
  return "vit_" + size_word(o.embed_dim, o.depth, o.num_heads) + "_patch" + std::to_string(o.patch_size);
}

}  // namespace mae::models
