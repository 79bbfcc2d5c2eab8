// Key schemes: detection, round trips ours -> scheme -> ours for each scheme, the exact
// HuggingFace names, and refusals for keys a scheme cannot express.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "mae/weights/key_schemes.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using namespace mae::weights;
using mae::testing::error_of;
using mae::testing::state_of;

static NamedTensors mae_state() {
  mae::models::MaskedAutoencoderViT model(mae::testing::tiny_mae());
  return state_of(*model);
}
static const torch::Tensor& find(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors) {
    if (n == name) return t;
  }
  throw mae::Error("test: no tensor " + name);
}
static void expect_identical(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(InteropSchemes, EachSchemeRoundTripsIdentically) {
  const NamedTensors ours = mae_state();
  for (Scheme scheme : {Scheme::kOfficial, Scheme::kEasyCV, Scheme::kHuggingFace}) {
    SCOPED_TRACE(scheme_name(scheme));
    const NamedTensors exported = to_scheme(ours, scheme);
    EXPECT_EQ(detect_scheme(exported), scheme);
    expect_identical(from_scheme(exported, scheme).tensors, ours);
  }
  mae::models::VisionTransformer vit(mae::testing::tiny_vit(/*global_pool=*/false));
  const NamedTensors cls = state_of(*vit);
  expect_identical(from_scheme(to_scheme(cls, Scheme::kHuggingFace), Scheme::kHuggingFace).tensors, cls);
}

TEST(InteropSchemes, HuggingFaceNamesSplitQkvInQueryKeyValueOrder) {
  const NamedTensors ours = mae_state();
  const NamedTensors hf = to_scheme(ours, Scheme::kHuggingFace);
  EXPECT_EQ(hf.size(), ours.size() + 3 * 2 * 2) << "each of the 3 blocks' qkv weight and bias becomes three tensors";
  const auto& qkv = find(ours, "blocks.1.attn.qkv.weight");  // [3D, D]
  EXPECT_TRUE(torch::equal(find(hf, "vit.encoder.layer.1.attention.attention.query.weight"), qkv.narrow(0, 0, 32)));
  EXPECT_TRUE(torch::equal(find(hf, "vit.encoder.layer.1.attention.attention.key.weight"), qkv.narrow(0, 32, 32)));
  EXPECT_TRUE(torch::equal(find(hf, "vit.encoder.layer.1.attention.attention.value.bias"),
                           find(ours, "blocks.1.attn.qkv.bias").narrow(0, 64, 32)));
  std::set<std::string> names;
  for (const auto& [n, t] : hf) names.insert(n);
  for (const char* expected :
       {"vit.embeddings.cls_token", "vit.embeddings.position_embeddings", "vit.embeddings.patch_embeddings.projection.weight",
        "vit.encoder.layer.0.layernorm_before.weight", "vit.encoder.layer.0.layernorm_after.bias",
        "vit.encoder.layer.0.attention.output.dense.weight", "vit.encoder.layer.0.intermediate.dense.weight",
        "vit.encoder.layer.0.output.dense.bias", "vit.layernorm.weight", "decoder.mask_token", "decoder.decoder_pos_embed",
        "decoder.decoder_embed.weight", "decoder.decoder_layers.0.attention.attention.query.weight",
        "decoder.decoder_norm.bias", "decoder.decoder_pred.weight"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
}

TEST(InteropSchemes, ReadsHuggingFaceModelsSavedWithoutVitPrefixOrWithPooler) {
  const NamedTensors encoder = select_encoder(mae_state());
  NamedTensors hf = to_scheme(encoder, Scheme::kHuggingFace);
  for (auto& [name, t] : hf) name = name.substr(4);  // "vit." gone, as ViTMAEModel.save_pretrained writes
  hf.emplace_back("pooler.dense.weight", torch::zeros({32, 32}));
  EXPECT_EQ(detect_scheme(hf), Scheme::kHuggingFace);
  const Converted back = from_scheme(hf, Scheme::kHuggingFace);
  expect_identical(back.tensors, encoder);
  EXPECT_EQ(back.dropped, std::vector<std::string>{"pooler.dense.weight"});
}

TEST(InteropSchemes, HuggingFaceWithoutAllOfQueryKeyValueIsAnError) {
  NamedTensors hf = to_scheme(mae_state(), Scheme::kHuggingFace);
  const auto is_key = [](const auto& e) { return e.first == "vit.encoder.layer.0.attention.attention.key.weight"; };
  hf.erase(std::remove_if(hf.begin(), hf.end(), is_key), hf.end());
  EXPECT_NE(error_of([&] { from_scheme(hf, Scheme::kHuggingFace); }).find("lacks 'attention.attention.key.'"),
            std::string::npos);
}

TEST(InteropSchemes, EasyCVPrefixesEncoderAndDecoder) {
  const NamedTensors ours = mae_state();
  const NamedTensors easycv = to_scheme(ours, Scheme::kEasyCV);
  EXPECT_EQ(easycv.front().first, "encoder.cls_token");
  EXPECT_TRUE(torch::equal(find(easycv, "decoder.mask_token"), find(ours, "mask_token")));
  EXPECT_NO_THROW(find(easycv, "decoder.decoder_blocks.0.attn.qkv.weight"));
  EXPECT_NO_THROW(find(easycv, "encoder.norm.bias"));
}

TEST(InteropSchemes, RefusesKeysASchemeCannotExpress) {
  mae::models::VisionTransformer gap(mae::testing::tiny_vit(/*global_pool=*/true));
  const NamedTensors pooled = state_of(*gap);
  EXPECT_NE(error_of([&] { to_scheme(pooled, Scheme::kHuggingFace); }).find("no fc_norm"), std::string::npos);
  EXPECT_NE(error_of([&] { to_scheme({{"head.1.weight", torch::zeros({2, 2})}}, Scheme::kHuggingFace); })
                .find("linear-probe BatchNorm head"),
            std::string::npos);
  EXPECT_NE(error_of([&] { to_scheme(pooled, Scheme::kEasyCV); }).find("no EasyCV name"), std::string::npos);
  EXPECT_NE(error_of([&] { to_scheme({{"blocks.0.attn.extra", torch::zeros({1})}}, Scheme::kHuggingFace); })
                .find("no HuggingFace ViT / ViTMAE name"),
            std::string::npos);
  expect_identical(to_scheme(pooled, Scheme::kOfficial), pooled);
}

TEST(InteropSchemes, StripsWrapperPrefixesOnlyWhenEveryKeyHasThem) {
  NamedTensors t = {{"module.model.cls_token", torch::zeros({1})}, {"module.model.blocks.0.norm1.weight", torch::zeros({1})}};
  EXPECT_EQ(strip_wrapper_prefixes(&t), "module.model.");
  EXPECT_EQ(t[0].first, "cls_token");
  NamedTensors partial = {{"module.cls_token", torch::zeros({1})}, {"pos_embed", torch::zeros({1})}};
  EXPECT_EQ(strip_wrapper_prefixes(&partial), "");
  EXPECT_EQ(partial[0].first, "module.cls_token");
}

TEST(InteropSchemes, NamesGroupsAndParsing) {
  EXPECT_EQ(parse_scheme("timm"), Scheme::kOfficial);
  EXPECT_EQ(parse_scheme("hf"), Scheme::kHuggingFace);
  EXPECT_EQ(parse_scheme("easycv"), Scheme::kEasyCV);
  EXPECT_THROW(parse_scheme("keras"), mae::UsageError);
  EXPECT_EQ(default_layer_norm_eps(Scheme::kHuggingFace), 1e-12);
  EXPECT_EQ(key_part("mask_token"), KeyPart::kDecoder);
  EXPECT_EQ(key_part("decoder_blocks.0.norm1.weight"), KeyPart::kDecoder);
  EXPECT_EQ(key_part("head.0.running_mean"), KeyPart::kHead);
  EXPECT_EQ(key_part("fc_norm.weight"), KeyPart::kFcNorm);
  EXPECT_EQ(key_part("norm.bias"), KeyPart::kNorm);
  EXPECT_EQ(key_part("blocks.0.norm1.weight"), KeyPart::kEncoder);
  for (const auto& [name, t] : select_encoder(mae_state())) EXPECT_NE(key_part(name), KeyPart::kDecoder) << name;
}
