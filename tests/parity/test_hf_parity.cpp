// Parity with code we did not write: HuggingFace transformers' ViTMAEForPreTraining and
// ViTForImageClassification (fixtures by tests/python/make_hf_fixtures.py, float64). Their weights
// come in through our HuggingFace key scheme; the loss, prediction, mask and every parameter
// gradient must match theirs.
#include <gtest/gtest.h>

#include "common/parity_fixture.h"
#include "common/tensor_compare.h"
#include "mae/weights/key_schemes.h"

using namespace mae::models;
using mae::testing::tensors_close;

namespace {

constexpr double kRtol = mae::testing::kParityRtol, kAtol = mae::testing::kParityAtol;
const auto load = mae::testing::load_parity_fixture;

// The fixture's hf.* weights through from_scheme into the module; every parameter must be set.
void load_hf_weights(torch::nn::Module& module, const mae::io::SafetensorsFile& f) {
  mae::io::NamedTensors hf;
  for (const auto& [key, value] : f.tensors) {
    if (key.rfind("hf.", 0) == 0) hf.emplace_back(key.substr(3), value);
  }
  ASSERT_EQ(mae::weights::detect_scheme(hf), mae::weights::Scheme::kHuggingFace);
  const auto converted = mae::weights::from_scheme(hf, mae::weights::Scheme::kHuggingFace);
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters();
  size_t used = 0;
  for (const auto& [name, value] : converted.tensors) {
    ASSERT_TRUE(params.contains(name)) << "HuggingFace's weight '" << name << "' has no counterpart";
    ASSERT_EQ(params[name].sizes(), value.sizes()) << name;
    params[name].copy_(value);
    ++used;
  }
  EXPECT_EQ(used, params.size()) << "every parameter must come from HuggingFace's state dict";
}

// HuggingFace's gradients, renamed to ours (query/key/value fused into qkv), against ours.
void expect_hf_grads(torch::nn::Module& module, const mae::io::SafetensorsFile& f) {
  mae::io::NamedTensors hf;
  for (const auto& [key, value] : f.tensors) {
    if (key.rfind("grad.", 0) == 0) hf.emplace_back(key.substr(5), value);
  }
  auto params = module.named_parameters();
  size_t checked = 0;
  for (const auto& [name, expected] : mae::weights::from_scheme(hf, mae::weights::Scheme::kHuggingFace).tensors) {
    ASSERT_TRUE(params.contains(name)) << "HuggingFace's gradient '" << name << "' has no counterpart";
    ASSERT_TRUE(params[name].grad().defined()) << name << " received no gradient";
    EXPECT_TRUE(tensors_close("grad." + name, params[name].grad(), expected, kRtol, kAtol));
    ++checked;
  }
  EXPECT_GT(checked, 20u);
}

class HfMaeParity : public ::testing::TestWithParam<std::string> {};

TEST_P(HfMaeParity, LossPredMaskAndGradientsMatchTransformers) {
  const auto f = load(GetParam());
  MaskedAutoencoderViT model(mae::testing::mae_options_of(f));
  model->to(torch::kFloat64);
  load_hf_weights(*model, f);

  auto out = model->forward(f.tensors.at("input.imgs"), std::stod(f.metadata.at("mask_ratio")), f.tensors.at("input.noise"));
  EXPECT_TRUE(torch::equal(out.ids_restore, f.tensors.at("output.ids_restore")));
  EXPECT_TRUE(tensors_close("mask", out.mask, f.tensors.at("output.mask"), 0, 0));
  EXPECT_TRUE(tensors_close("pred", out.pred, f.tensors.at("output.pred"), kRtol, kAtol));
  EXPECT_TRUE(tensors_close("loss", out.loss, f.tensors.at("output.loss"), kRtol, kAtol));
  out.loss.backward();
  expect_hf_grads(*model, f);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfMaeParity,
                         ::testing::Values("hf_vitmae_rgb_normpix.safetensors", "hf_vitmae_grey.safetensors"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

TEST(HfVitParity, ClassifierLogitsAndGradientsMatchTransformers) {
  const auto f = load("hf_vit_classifier.safetensors");
  const VisionTransformerOptions o = mae::testing::vit_options_of(f);
  ASSERT_FALSE(o.global_pool);  // HuggingFace's ViT classifies the cls token after vit.layernorm
  VisionTransformer model(o);
  model->to(torch::kFloat64);
  load_hf_weights(*model, f);
  auto logits = model->forward(f.tensors.at("input.imgs"));
  EXPECT_TRUE(tensors_close("logits", logits, f.tensors.at("output.logits"), kRtol, kAtol));
  (logits * f.tensors.at("input.dlogits")).sum().backward();
  expect_hf_grads(*model, f);
}

}  // namespace
