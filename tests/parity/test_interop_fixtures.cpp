// Weights written by PyTorch (tests/python/make_interop_fixtures.py) in each scheme load into our
// models and equal the reference tensors; our HuggingFace export equals the Python-written names;
// heads and resized position tables reproduce PyTorch's numbers.
#include <set>

#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/models/pos_embed.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/weights_file.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using namespace mae::weights;
using mae::models::Grid;
using mae::models::resize_pos_embed;
using mae::models::MaskedAutoencoderViT;
using mae::models::VisionTransformer;
using mae::testing::has_note;
using mae::testing::interop_fixture;
using mae::testing::tensors_close;

static std::map<std::string, torch::Tensor> reference() {
  return read_safetensors(interop_fixture("mae_tiny_official.safetensors")).tensors;
}

TEST(InteropFixtures, EverySchemeLoadsAndEqualsTheReference) {
  const auto expected = reference();
  const struct {
    const char* file;
    const char* scheme;
    const char* note;
  } cases[] = {
      {"mae_tiny_official.safetensors", "official", ""},
      {"mae_tiny.pth", "official", "state dict found under 'model'"},
      {"mae_tiny_hf.safetensors", "huggingface", "fused HuggingFace query/key/value into qkv"},
      {"mae_tiny_easycv.pth", "easycv", "state dict found under 'state_dict'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    MaskedAutoencoderViT model(mae::testing::tiny_mae());
    const LoadReport r = load_weights(*model, interop_fixture(c.file));
    EXPECT_EQ(r.scheme, c.scheme);
    EXPECT_TRUE(*c.note == 0 || has_note(r, c.note)) << r.to_string();
    EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.expected_missing.empty()) << r.to_string();
    EXPECT_EQ(r.loaded.size(), expected.size());
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(expected.count(p.key())) << p.key();
      EXPECT_TRUE(torch::equal(p.value(), expected.at(p.key()))) << p.key();
    }
  }
}

TEST(InteropFixtures, PthReaderSkipsTheNamespaceAndKeepsItsFields) {
  const WeightsFile f = read_weights(interop_fixture("mae_tiny.pth"));
  EXPECT_EQ(f.format, "pth");
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_NE(f.notes[0].find("skipped 'args': an object of class argparse.Namespace, not weights"), std::string::npos);
  EXPECT_EQ(f.metadata.at("args.mask_ratio"), "0.75");
  EXPECT_EQ(f.metadata.at("args.input_size"), "32");
  const WeightsFile easycv = read_weights(interop_fixture("mae_tiny_easycv.pth"));
  EXPECT_EQ(easycv.metadata.at("meta.mmcv_version"), "1.4.4");
}

TEST(InteropFixtures, OurHuggingFaceExportEqualsThePythonWrittenNames) {
  MaskedAutoencoderViT model(mae::testing::tiny_mae());
  load_weights(*model, interop_fixture("mae_tiny_official.safetensors"));
  NamedTensors ours;
  for (const auto& p : model->named_parameters()) ours.emplace_back(p.key(), p.value());
  const auto python = read_safetensors(interop_fixture("mae_tiny_hf.safetensors")).tensors;
  const NamedTensors exported = to_scheme(ours, Scheme::kHuggingFace);
  ASSERT_EQ(exported.size(), python.size());
  for (const auto& [name, t] : exported) {
    ASSERT_TRUE(python.count(name)) << name << " is not a name the Python script wrote";
    EXPECT_TRUE(torch::equal(t, python.at(name))) << name;
  }
  // And back: ours -> HF -> ours is the identity on the fixture.
  const Converted back = from_scheme(exported, Scheme::kHuggingFace);
  ASSERT_EQ(back.tensors.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, ours[i].first);
    EXPECT_TRUE(torch::equal(back.tensors[i].second, ours[i].second)) << ours[i].first;
  }
}

// Logits of a cls-token ViT (eval mode) built from the tiny encoder plus the head tensors in `heads`.
static void expect_logits(const std::string& encoder_file, const std::string& heads_file, const std::string& head_note) {
  const auto heads = read_safetensors(interop_fixture(heads_file)).tensors;
  NamedTensors weights = read_weights(interop_fixture(encoder_file)).tensors;
  for (const auto& [name, t] : heads) {
    if (name.rfind("input.", 0) != 0 && name.rfind("output.", 0) != 0) weights.emplace_back(name, t);
  }
  VisionTransformer vit(mae::testing::tiny_vit(/*global_pool=*/false, 5));
  const LoadReport r = load_state_dict(*vit, weights);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.expected_missing.empty()) << r.to_string();
  ASSERT_NE(r.expected_unused_group("decoder"), nullptr);
  EXPECT_TRUE(head_note.empty() || has_note(r, head_note)) << r.to_string();
  vit->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(tensors_close("logits", vit->forward(heads.at("input.imgs")), heads.at("output.logits"), 1e-4, 1e-5));
}

TEST(InteropFixtures, LinearProbeCheckpointGivesPyTorchsLogits) {
  expect_logits("mae_tiny_official.safetensors", "vit_probe_head.safetensors", "linear-probe head");
}

TEST(InteropFixtures, HuggingFaceClassifierGivesPyTorchsLogits) {
  expect_logits("mae_tiny_hf.safetensors", "vit_hf_classifier.safetensors", "");
}

TEST(InteropFixtures, PosEmbedResizeEqualsTorchInterpolate) {
  const auto t = read_safetensors(interop_fixture("pos_embed_resize.safetensors")).tensors;
  const auto& square = t.at("square_4x4");
  EXPECT_TRUE(tensors_close("4x4 -> 6x3", resize_pos_embed(square, {4, 4}, {6, 3}), t.at("square_to_6x3"), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("4x4 -> 2x2", resize_pos_embed(square, {4, 4}, {2, 2}), t.at("square_to_2x2"), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("4x4 -> 2x2 antialias", resize_pos_embed(square, {4, 4}, {2, 2}, 1, true),
                            t.at("square_to_2x2_antialias"), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close("2x3 -> 4x5", resize_pos_embed(t.at("nonsquare_2x3"), {2, 3}, {4, 5}),
                            t.at("nonsquare_to_4x5"), 1e-5, 1e-6));
}

TEST(InteropFixtures, FineTuneViTLoadsThePretrainingCheckpointDirectly) {
  VisionTransformer vit(mae::testing::tiny_vit(/*global_pool=*/true, 5));
  const LoadReport r = load_weights(*vit, interop_fixture("mae_tiny.pth"));
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty()) << r.to_string();
  ASSERT_NE(r.expected_unused_group("decoder"), nullptr);
  EXPECT_EQ(r.expected_unused_group("decoder")->keys.size(), 20u);
  ASSERT_NE(r.expected_missing_group("head"), nullptr);
  ASSERT_NE(r.expected_missing_group("fc_norm"), nullptr);
  ASSERT_NE(r.expected_unused_group("norm"), nullptr);
  EXPECT_TRUE(has_note(r, "skipped 'args'"));
  const auto expected = reference();
  for (const auto& p : vit->named_parameters()) {
    if (expected.count(p.key())) EXPECT_TRUE(torch::equal(p.value(), expected.at(p.key()))) << p.key();
  }
}
