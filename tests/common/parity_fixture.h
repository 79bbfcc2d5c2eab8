// The float64 parity fixtures of tests/fixtures/parity (written by tests/python/make_*_fixtures.py):
// reading them and the model sizes their metadata holds.
#pragma once

#include <string>

#include "mae/io/safetensors.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::testing {

constexpr double kParityRtol = 1e-9, kParityAtol = 1e-11;  // float64 on both sides

inline io::SafetensorsFile load_parity_fixture(const std::string& name) {
  return io::read_safetensors(std::string(MAE_FIXTURE_DIR) + "/parity/" + name);
}

inline int64_t meta_int(const io::SafetensorsFile& f, const std::string& key) { return std::stoll(f.metadata.at(key)); }

// The encoder's sizes, shared by both models; layer_norm_eps where the fixture names it.
template <typename Options>
void read_encoder_options(const io::SafetensorsFile& f, Options* o) {
  o->img_h = meta_int(f, "img_h"), o->img_w = meta_int(f, "img_w");
  o->patch_size = meta_int(f, "patch_size"), o->in_chans = meta_int(f, "in_chans");
  o->embed_dim = meta_int(f, "embed_dim"), o->depth = meta_int(f, "depth"), o->num_heads = meta_int(f, "num_heads");
  o->mlp_ratio = std::stod(f.metadata.at("mlp_ratio"));
  if (f.metadata.count("layer_norm_eps")) o->norm_eps = std::stod(f.metadata.at("layer_norm_eps"));
}

inline models::MaeViTOptions mae_options_of(const io::SafetensorsFile& f) {
  models::MaeViTOptions o;
  read_encoder_options(f, &o);
  o.decoder_embed_dim = meta_int(f, "decoder_embed_dim"), o.decoder_depth = meta_int(f, "decoder_depth");
  o.decoder_num_heads = meta_int(f, "decoder_num_heads");
  o.norm_pix_loss = f.metadata.at("norm_pix_loss") == "true";
  return o;
}

inline models::VisionTransformerOptions vit_options_of(const io::SafetensorsFile& f) {
  models::VisionTransformerOptions o;
  read_encoder_options(f, &o);
  o.num_classes = meta_int(f, "num_classes");
  o.global_pool = f.metadata.at("global_pool") == "true";
  return o;
}

}  // namespace mae::testing
