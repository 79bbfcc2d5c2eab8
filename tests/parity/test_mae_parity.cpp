// Parity with PyTorch: fixtures written by tests/python/make_parity_fixtures.py (float64, fixed
// weights, inputs and masking noise). Every output and every parameter gradient must match.
#include <gtest/gtest.h>

#include "common/parity_fixture.h"
#include "common/tensor_compare.h"
#include "mae/models/pos_embed.h"

using namespace mae::models;
using mae::testing::tensors_close;

namespace {

constexpr double kRtol = mae::testing::kParityRtol, kAtol = mae::testing::kParityAtol;
const auto load = mae::testing::load_parity_fixture;

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
  MaeViTOptions o = mae::testing::mae_options_of(f);
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
  VisionTransformer model(mae::testing::vit_options_of(f));
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
