// Loading weights into our models: expected-missing and expected-unused groups, strictness,
// shape mismatches, and the adaptations (grid, channels, head, dtype) with their notes.
#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/models/pos_embed.h"
#include "mae/weights/load_state_dict.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using namespace mae::weights;
using mae::models::Grid;
using mae::models::resize_pos_embed;
using mae::models::MaskedAutoencoderViT;
using mae::models::VisionTransformer;
using mae::testing::error_of;
using mae::testing::has_note;
using mae::testing::state_of;
using mae::testing::tiny_mae;
using mae::testing::tiny_vit;

static torch::Tensor param(torch::nn::Module& model, const std::string& name) {
  return model.named_parameters()[name];
}
static size_t group_size(const KeyGroup* g) { return g ? g->keys.size() : 0; }

TEST(InteropLoad, FineTuneViTTakesThePretrainingEncoder) {
  MaskedAutoencoderViT mae(tiny_mae());
  VisionTransformer vit(tiny_vit(/*global_pool=*/true));
  const LoadReport r = load_state_dict(*vit, state_of(*mae));
  EXPECT_EQ(r.scheme, "official");
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.shape_mismatches.empty()) << r.to_string();
  EXPECT_EQ(r.loaded.size(), 4u + 2 * 12) << "cls_token, pos_embed, patch_embed.proj.{weight,bias}, 12 per block";
  // decoder_embed 2, mask_token, decoder_pos_embed, one decoder block 12, decoder_norm 2, decoder_pred 2
  EXPECT_EQ(group_size(r.expected_unused_group("decoder")), 20u) << r.to_string();
  EXPECT_EQ(group_size(r.expected_unused_group("norm")), 2u);
  EXPECT_EQ(group_size(r.expected_missing_group("head")), 2u);
  EXPECT_EQ(group_size(r.expected_missing_group("fc_norm")), 2u);
  EXPECT_TRUE(torch::equal(param(*vit, "blocks.1.mlp.fc2.weight"), param(*mae, "blocks.1.mlp.fc2.weight")));
  EXPECT_TRUE(torch::equal(param(*vit, "pos_embed"), param(*mae, "pos_embed")));
  EXPECT_NE(r.to_string().find("expected unused, decoder (20): the decoder serves pretraining only"), std::string::npos)
      << r.to_string();
}

TEST(InteropLoad, ClsTokenViTKeepsTheEncoderNorm) {
  MaskedAutoencoderViT mae(tiny_mae());
  VisionTransformer vit(tiny_vit(/*global_pool=*/false));
  const LoadReport r = load_state_dict(*vit, state_of(*mae));
  EXPECT_EQ(r.expected_unused_group("norm"), nullptr);
  EXPECT_TRUE(torch::equal(param(*vit, "norm.weight"), param(*mae, "norm.weight")));
}

TEST(InteropLoad, EncoderOnlyCheckpointIntoThePretrainingModel) {
  MaskedAutoencoderViT source(tiny_mae()), target(tiny_mae());
  const LoadReport r = load_state_dict(*target, select_encoder(state_of(*source)));
  EXPECT_EQ(group_size(r.expected_missing_group("decoder")), 19u) << r.to_string();
  EXPECT_EQ(group_size(r.expected_missing_group("fixed sin-cos")), 1u) << "decoder_pos_embed is a fixed table";
  EXPECT_TRUE(r.missing.empty());
}

TEST(InteropLoad, UnexpectedAndMissingKeysAreErrorsUnlessNonStrict) {
  MaskedAutoencoderViT source(tiny_mae()), target(tiny_mae());
  NamedTensors extra = state_of(*source);
  extra.emplace_back("foo.bar", torch::zeros({2}));
  const auto before = param(*target, "blocks.0.attn.qkv.weight").clone();
  const std::string error = error_of([&] { load_state_dict(*target, extra); });
  EXPECT_NE(error.find("UNEXPECTED in the source (1): foo.bar"), std::string::npos) << error;
  EXPECT_NE(error.find("load non-strict"), std::string::npos) << error;
  EXPECT_TRUE(torch::equal(param(*target, "blocks.0.attn.qkv.weight"), before)) << "unchanged after an error";
  LoadOptions lenient;
  lenient.non_strict = true;
  EXPECT_EQ(load_state_dict(*target, extra, lenient).unexpected, std::vector<std::string>{"foo.bar"});

  NamedTensors lacking = state_of(*source);
  lacking.erase(lacking.begin() + 5);
  const std::string missing = error_of([&] { load_state_dict(*target, lacking); });
  EXPECT_NE(missing.find("MISSING from the source (1): " + state_of(*source)[5].first), std::string::npos) << missing;
}

TEST(InteropLoad, ShapeMismatchIsAnErrorNamingKeyAndBothShapes) {
  MaskedAutoencoderViT target(tiny_mae());
  NamedTensors state = state_of(*target);
  for (auto& [name, t] : state) {
    if (name == "blocks.0.mlp.fc1.weight") t = torch::zeros({64, 32});
  }
  LoadOptions lenient;
  lenient.non_strict = true;
  const std::string error = error_of([&] { load_state_dict(*target, state, lenient); });
  EXPECT_NE(error.find("SHAPE MISMATCH blocks.0.mlp.fc1.weight: source [64, 32], model [128, 32]"), std::string::npos)
      << error;
}

TEST(InteropLoad, HeadForAnotherClassCountNeedsReinitForTheNewTask) {
  VisionTransformer source(tiny_vit(true, 10)), target(tiny_vit(true, 5));
  const std::string error = error_of([&] { load_state_dict(*target, state_of(*source)); });
  EXPECT_NE(error.find("SHAPE MISMATCH head.weight: source [10, 32], model [5, 32] (a head for another class count"),
            std::string::npos)
      << error;
  LoadOptions options;
  options.reinit_mismatched_head = true;
  const LoadReport r = load_state_dict(*target, state_of(*source), options);
  ASSERT_EQ(group_size(r.expected_missing_group("head")), 2u);
  EXPECT_NE(r.expected_missing_group("head")->reason.find("10 classes, the model 5"), std::string::npos);
  EXPECT_TRUE(torch::equal(param(*target, "fc_norm.weight"), param(*source, "fc_norm.weight")));
}

TEST(InteropLoad, GreyModelFromRgbWeightsAdaptsPatchEmbedAndDecoderPred) {
  MaskedAutoencoderViT rgb(tiny_mae(3)), grey(tiny_mae(1));
  const LoadReport r = load_state_dict(*grey, state_of(*rgb));
  EXPECT_TRUE(r.shape_mismatches.empty()) << r.to_string();
  EXPECT_TRUE(has_note(r, "patch_embed.proj.weight: adapted from 3 to 1 input channels (sum"));
  EXPECT_TRUE(has_note(r, "decoder_pred.weight: adapted from 3 to 1 channels per pixel (mean"));
  EXPECT_TRUE(torch::equal(param(*grey, "patch_embed.proj.weight"), param(*rgb, "patch_embed.proj.weight").sum(1, true)));
  EXPECT_EQ(param(*grey, "decoder_pred.bias").size(0), 64);
}

TEST(InteropLoad, FixedSinCosTablesAreRegeneratedForAnotherGrid) {
  MaskedAutoencoderViT small(tiny_mae(3, 32, 32)), wide(tiny_mae(3, 48, 24));
  const LoadReport r = load_state_dict(*wide, state_of(*small));
  EXPECT_TRUE(has_note(r, "pos_embed: fixed sin-cos table regenerated for the 6x3 grid (the source had 17 rows)"));
  EXPECT_TRUE(has_note(r, "decoder_pos_embed: fixed sin-cos table regenerated"));
  EXPECT_TRUE(torch::equal(param(*wide, "pos_embed"), sincos_pos_embed(32, {6, 3}, torch::kFloat32)));
}

TEST(InteropLoad, LearnablePosEmbedIsResizedBicubically) {
  VisionTransformer small(tiny_vit(true, 5, 32, 32)), wide(tiny_vit(true, 5, 48, 24));
  const LoadReport r = load_state_dict(*wide, state_of(*small));
  EXPECT_TRUE(has_note(r, "pos_embed: resized from the 4x4 to the 6x3 grid (bicubic, align_corners=False"));
  EXPECT_TRUE(torch::equal(param(*wide, "pos_embed"), resize_pos_embed(param(*small, "pos_embed").detach(), {4, 4}, {6, 3})));

  VisionTransformer nonsquare(tiny_vit(true, 5, 32, 48)), square(tiny_vit(true, 5, 32, 32));
  EXPECT_NE(error_of([&] { load_state_dict(*square, state_of(*nonsquare)); }).find("give the source grid"),
            std::string::npos);
  LoadOptions options;
  options.source_grid = Grid{4, 6};
  EXPECT_TRUE(has_note(load_state_dict(*square, state_of(*nonsquare), options), "resized from the 4x6 to the 4x4 grid"));
}

TEST(InteropLoad, ConvertsDtypesAndStripsWrapperPrefixes) {
  MaskedAutoencoderViT source(tiny_mae()), target(tiny_mae());
  NamedTensors half = state_of(*source);
  for (auto& [name, t] : half) {
    name = "module." + name;
    t = t.to(torch::kHalf);
  }
  const LoadReport r = load_state_dict(*target, half);
  EXPECT_EQ(r.stripped_prefix, "module.");
  EXPECT_TRUE(has_note(r, "tensors converted to the model's dtype"));
  EXPECT_EQ(param(*target, "norm.weight").scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(param(*target, "norm.weight"), param(*source, "norm.weight").to(torch::kHalf).to(torch::kFloat32)));
}

TEST(InteropLoad, HuggingFaceSourceRecordsItsLayerNormEps) {
  MaskedAutoencoderViT source(tiny_mae()), target(tiny_mae());
  const LoadReport r = load_state_dict(*target, to_scheme(state_of(*source), Scheme::kHuggingFace));
  EXPECT_EQ(r.scheme, "huggingface");
  EXPECT_EQ(r.source_layer_norm_eps, 1e-12);
  EXPECT_TRUE(has_note(r, "LayerNorm eps: the source's code uses 1e-12, this model 1e-06"));
  EXPECT_TRUE(torch::equal(param(*target, "blocks.0.attn.qkv.bias"), param(*source, "blocks.0.attn.qkv.bias")));
  LoadOptions known;
  known.source_layer_norm_eps = 1e-6;
  EXPECT_FALSE(has_note(load_state_dict(*target, to_scheme(state_of(*source), Scheme::kHuggingFace), known), "LayerNorm eps"));
}

TEST(InteropLoad, ProbeHeadIsFoldedIntoALinearHead) {
  VisionTransformer vit(tiny_vit(false, 3));
  NamedTensors state = state_of(*vit);
  state.erase(std::remove_if(state.begin(), state.end(), [](const auto& e) { return e.first.rfind("head.", 0) == 0; }),
              state.end());
  state.emplace_back("head.0.running_mean", torch::zeros({32}));
  state.emplace_back("head.0.running_var", torch::full({32}, 4.0 - 1e-6));
  state.emplace_back("head.0.num_batches_tracked", torch::tensor(5));
  state.emplace_back("head.1.weight", torch::ones({3, 32}));
  state.emplace_back("head.1.bias", torch::full({3}, 0.5));
  const LoadReport r = load_state_dict(*vit, state);
  EXPECT_TRUE(has_note(r, "linear-probe head"));
  EXPECT_TRUE(mae::testing::tensors_close("folded weight", param(*vit, "head.weight"), torch::full({3, 32}, 0.5), 1e-6, 0));
  EXPECT_TRUE(r.unexpected.empty()) << r.to_string();
}

TEST(InteropLoad, LoadWeightsNamesTheFile) {
  VisionTransformer vit(tiny_vit(true));
  const std::string path = ::testing::TempDir() + "mae_interop_load_bad.safetensors";
  write_safetensors(path, {{"cls_token", torch::zeros({1, 1, 8})}});
  const std::string error = error_of([&] { load_weights(*vit, path); });
  EXPECT_EQ(error.rfind(path + ": the weights do not fit the model", 0), 0u) << error;
  std::remove(path.c_str());
}
