// Parity with PyTorch: fixtures written by tests/python/make_parity_fixtures.py (float64, fixed
// weights, inputs and masking noise). Every output and every parameter gradient must match.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/io/safetensors.h"
#include "mae/models/mae_vit.h"
#include "mae/models/pos_embed.h"
#include "mae/models/vision_transformer.h"

using namespace mae::models;
using mae::testing::tensors_close;

namespace {

constexpr double kRtol = 1e-9, kAtol = 1e-11;  // float64 on both sides

mae::io::SafetensorsFile load(const std::string& name) {
  return mae::io::read_safetensors(std::string(MAE_FIXTURE_DIR) + "/parity/" + name);
}

int64_t meta_int(const mae::io::SafetensorsFile& f, const std::string& key) { return std::stoll(f.metadata.at(key)); }

// Copies every `param.<key>` into the module's parameter of that name; all must be used.
void load_params(torch::nn::Module& module, const mae::io::SafetensorsFile& f) {
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters();
  size_t used = 0;
  for (const auto& [key, value] : f.tensors) {
    if (key.rfind("param.", 0) != 0) continue;
    const std::string name = key.substr(6);
    ASSERT_TRUE(params.contains(name)) << "fixture parameter '" << name << "' has no counterpart";
    ASSERT_EQ(params[name].sizes(), value.sizes()) << name;
    params[name].copy_(value);
    ++used;
  }
  EXPECT_EQ(used, params.size()) << "every model parameter must come from the fixture";
}

void expect_grads(torch::nn::Module& module, const mae::io::SafetensorsFile& f) {
  size_t checked = 0;
  for (const auto& kv : module.named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    const auto it = f.tensors.find("grad." + kv.key());
    ASSERT_NE(it, f.tensors.end()) << "fixture lacks grad." << kv.key();
    ASSERT_TRUE(kv.value().grad().defined()) << kv.key() << " received no gradient";
    EXPECT_TRUE(tensors_close("grad." + kv.key(), kv.value().grad(), it->second, kRtol, kAtol));
    ++checked;
  }
  EXPECT_GT(checked, 10u);
}

class MaeParity : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(MaeParity, LossPredMaskAndEveryGradientMatchPyTorch) {
  const auto& [name, fused] = GetParam();
  auto f = load(name);
  MaeViTOptions o;
  o.img_h = meta_int(f, "img_h"), o.img_w = meta_int(f, "img_w");
  o.patch_size = meta_int(f, "patch_size"), o.in_chans = meta_int(f, "in_chans");
  o.embed_dim = meta_int(f, "embed_dim"), o.depth = meta_int(f, "depth"), o.num_heads = meta_int(f, "num_heads");
  o.decoder_embed_dim = meta_int(f, "decoder_embed_dim"), o.decoder_depth = meta_int(f, "decoder_depth");
  o.decoder_num_heads = meta_int(f, "decoder_num_heads");
  o.mlp_ratio = std::stod(f.metadata.at("mlp_ratio"));
  o.norm_pix_loss = f.metadata.at("norm_pix_loss") == "true";
  o.fused_attn = fused;
  const double mask_ratio = std::stod(f.metadata.at("mask_ratio"));

  MaskedAutoencoderViT model(o);
  // Our sin-cos tables equal the reference's: exactly in float64, to rounding in the float32 model.
  const int64_t gh = o.img_h / o.patch_size, gw = o.img_w / o.patch_size;
  EXPECT_TRUE(tensors_close("sin-cos table", get_2d_sincos_pos_embed(o.embed_dim, gh, gw, true).unsqueeze(0),
                            f.tensors.at("param.pos_embed"), 0, 1e-14));
  EXPECT_TRUE(tensors_close("pos_embed (model)", model->pos_embed, f.tensors.at("param.pos_embed"), 0, 1e-7));
  EXPECT_TRUE(tensors_close("decoder_pos_embed (model)", model->decoder_pos_embed,
                            f.tensors.at("param.decoder_pos_embed"), 0, 1e-7));
  model->to(torch::kFloat64);
  load_params(*model, f);

  const auto& imgs = f.tensors.at("input.imgs");
  EXPECT_TRUE(tensors_close("patchify", model->patchify(imgs), f.tensors.at("output.patchify"), 0, 0));
  auto out = model->forward(imgs, mask_ratio, f.tensors.at("input.noise"));
  EXPECT_TRUE(torch::equal(out.ids_restore, f.tensors.at("output.ids_restore")));
  EXPECT_TRUE(tensors_close("mask", out.mask, f.tensors.at("output.mask"), 0, 0));
  EXPECT_TRUE(tensors_close("loss", out.loss, f.tensors.at("output.loss"), kRtol, kAtol));
  EXPECT_TRUE(tensors_close("pred", out.pred, f.tensors.at("output.pred"), kRtol, kAtol));
  out.loss.backward();
  expect_grads(*model, f);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MaeParity,
                         ::testing::Combine(::testing::Values("mae_rgb.safetensors", "mae_rgb_normpix.safetensors",
                                                              "mae_grey.safetensors", "mae_nonsquare.safetensors"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param);
                           name = name.substr(0, name.find('.'));
                           return name + (std::get<1>(info.param) ? "_fused" : "_plain");
                         });

class VitParity : public ::testing::TestWithParam<std::string> {};

TEST_P(VitParity, LogitsAndEveryGradientMatchPyTorch) {
  auto f = load(GetParam());
  VisionTransformerOptions o;
  o.img_h = meta_int(f, "img_h"), o.img_w = meta_int(f, "img_w");
  o.patch_size = meta_int(f, "patch_size"), o.in_chans = meta_int(f, "in_chans");
  o.embed_dim = meta_int(f, "embed_dim"), o.depth = meta_int(f, "depth"), o.num_heads = meta_int(f, "num_heads");
  o.num_classes = meta_int(f, "num_classes");
  o.mlp_ratio = std::stod(f.metadata.at("mlp_ratio"));
  o.global_pool = f.metadata.at("global_pool") == "true";
  VisionTransformer model(o);
  model->to(torch::kFloat64);
  load_params(*model, f);
  auto logits = model->forward(f.tensors.at("input.imgs"));
  EXPECT_TRUE(tensors_close("logits", logits, f.tensors.at("output.logits"), kRtol, kAtol));
  (logits * f.tensors.at("input.dlogits")).sum().backward();
  expect_grads(*model, f);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VitParity, ::testing::Values("vit_gap.safetensors", "vit_cls.safetensors"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

}  // namespace
