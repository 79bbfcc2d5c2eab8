// Model structure: state-dict names and shapes equal the official ones; presets; validation.
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/models/presets.h"

using namespace mae::models;

static std::vector<std::string> keys_of(torch::nn::Module& m) {
  std::vector<std::string> keys;
  for (const auto& kv : m.named_parameters()) keys.push_back(kv.key());
  for (const auto& kv : m.named_buffers()) keys.push_back(kv.key());
  return keys;
}

static std::vector<std::string> block_keys(const std::string& prefix, int depth) {
  const char* suffixes[] = {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                            "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                            "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};
  std::vector<std::string> keys;
  for (int i = 0; i < depth; ++i)
    for (const char* s : suffixes) keys.push_back(prefix + "." + std::to_string(i) + "." + s);
  return keys;
}

TEST(StateDict, MaeVitBaseKeysEqualOfficialListInOrder) {
  // The official models_mae.mae_vit_base_patch16_dec512d8b().state_dict() key order.
  std::vector<std::string> expected = {"cls_token", "pos_embed", "mask_token", "decoder_pos_embed",
                                       "patch_embed.proj.weight", "patch_embed.proj.bias"};
  for (const auto& k : block_keys("blocks", 12)) expected.push_back(k);
  for (const char* k : {"norm.weight", "norm.bias", "decoder_embed.weight", "decoder_embed.bias"}) expected.push_back(k);
  for (const auto& k : block_keys("decoder_blocks", 8)) expected.push_back(k);
  for (const char* k : {"decoder_norm.weight", "decoder_norm.bias", "decoder_pred.weight", "decoder_pred.bias"})
    expected.push_back(k);

  MaskedAutoencoderViT model(mae_preset("mae_vit_base_patch16"));
  EXPECT_EQ(keys_of(*model), expected);
  auto params = model->named_parameters();
  EXPECT_EQ(params["pos_embed"].sizes(), (std::vector<int64_t>{1, 197, 768}));
  EXPECT_EQ(params["decoder_pos_embed"].sizes(), (std::vector<int64_t>{1, 197, 512}));
  EXPECT_EQ(params["mask_token"].sizes(), (std::vector<int64_t>{1, 1, 512}));
  EXPECT_EQ(params["patch_embed.proj.weight"].sizes(), (std::vector<int64_t>{768, 3, 16, 16}));
  EXPECT_EQ(params["blocks.0.attn.qkv.weight"].sizes(), (std::vector<int64_t>{2304, 768}));
  EXPECT_EQ(params["blocks.11.mlp.fc1.weight"].sizes(), (std::vector<int64_t>{3072, 768}));
  EXPECT_EQ(params["decoder_pred.weight"].sizes(), (std::vector<int64_t>{768, 512}));
  EXPECT_FALSE(params["pos_embed"].requires_grad());
  EXPECT_FALSE(params["decoder_pos_embed"].requires_grad());
  EXPECT_TRUE(params["cls_token"].requires_grad());
  int64_t trainable = 0, total = 0;
  for (const auto& p : model->parameters()) {
    total += p.numel();
    trainable += p.requires_grad() ? p.numel() : 0;
  }
  EXPECT_EQ(total, 111907840);      // the official model's sum over its state dict
  EXPECT_EQ(trainable, 111655680);  // less the two fixed sin-cos tables (197 x (768 + 512))
}

TEST(StateDict, VisionTransformerGlobalPoolAndClsKeys) {
  auto o = vit_preset("vit_tiny_patch16");
  o.depth = 1;
  o.num_classes = 10;
  VisionTransformer gap(o);
  std::vector<std::string> expected = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"};
  for (const auto& k : block_keys("blocks", 1)) expected.push_back(k);
  auto with_gap = expected;
  for (const char* k : {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}) with_gap.push_back(k);
  EXPECT_EQ(keys_of(*gap), with_gap);
  o.global_pool = false;
  VisionTransformer cls(o);
  for (const char* k : {"norm.weight", "norm.bias", "head.weight", "head.bias"}) expected.push_back(k);
  EXPECT_EQ(keys_of(*cls), expected);
  EXPECT_TRUE(cls->named_parameters()["pos_embed"].requires_grad());
  EXPECT_EQ(gap->forward(torch::randn({2, 3, 224, 224})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(Presets, ParseOfficialNames) {
  auto h = mae_preset("mae_vit_huge_patch14");
  EXPECT_EQ(h.embed_dim, 1280);
  EXPECT_EQ(h.depth, 32);
  EXPECT_EQ(h.num_heads, 16);
  EXPECT_EQ(h.patch_size, 14);
  EXPECT_EQ(h.decoder_embed_dim, 512);
  EXPECT_EQ(h.decoder_depth, 8);
  auto l = mae_preset("mae_vit_large_patch16_dec256d4b");
  EXPECT_EQ(l.embed_dim, 1024);
  EXPECT_EQ(l.decoder_embed_dim, 256);
  EXPECT_EQ(l.decoder_depth, 4);
  EXPECT_EQ(vit_preset("vit_small_patch8").embed_dim, 384);
  EXPECT_THROW(mae_preset("mae_vit_gigantic_patch16"), mae::UsageError);
  EXPECT_THROW(mae_preset("vit_base_patch16"), mae::UsageError);
}

TEST(Validation, RejectsImpossibleShapesWithMessage) {
  auto o = mae_preset("mae_vit_tiny_patch16");
  o.img_h = 30;  // not a multiple of 16
  try {
    MaskedAutoencoderViT m(o);
    FAIL() << "30x224 with patch 16 must be rejected";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by patch_size 16"), std::string::npos) << e.what();
  }
  o = mae_preset("mae_vit_tiny_patch16");
  o.num_heads = 5;  // 192 % 5 != 0
  EXPECT_THROW(MaskedAutoencoderViT{o}, mae::UsageError);
  o = mae_preset("mae_vit_tiny_patch16");
  o.decoder_embed_dim = 510;  // not a multiple of 4
  EXPECT_THROW(MaskedAutoencoderViT{o}, mae::UsageError);
  o = mae_preset("mae_vit_tiny_patch16");
  o.in_chans = 0;
  EXPECT_THROW(MaskedAutoencoderViT{o}, mae::UsageError);
}

TEST(Init, FollowsOfficialScheme) {
  torch::manual_seed(0);
  auto o = mae_preset("mae_vit_small_patch16");
  MaskedAutoencoderViT m(o);
  auto p = m->named_parameters();
  // xavier_uniform bound for fc1 [1536, 384]: sqrt(6 / (384 + 1536)).
  const double bound = std::sqrt(6.0 / (384 + 1536));
  EXPECT_LE(p["blocks.0.mlp.fc1.weight"].abs().max().item<double>(), bound);
  EXPECT_GT(p["blocks.0.mlp.fc1.weight"].abs().max().item<double>(), 0.95 * bound);
  EXPECT_EQ(p["blocks.0.mlp.fc1.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(p["norm.weight"], torch::ones({384})));
  // patch embed: xavier over [D, C*p*p] = [384, 768], std sqrt(2 / (384 + 768)) = 0.0417. Bounded
  // from both sides: the conv's own init (kaiming_uniform, a = sqrt(5)) has std 1/sqrt(3 * 768) =
  // 0.0208, and xavier over the 4-d shape 0.0045; both lie within the uniform bound.
  const auto& patch_w = p["patch_embed.proj.weight"];
  EXPECT_LE(patch_w.abs().max().item<double>(), std::sqrt(6.0 / (384 + 768)));
  const double xavier_std = std::sqrt(2.0 / (384 + 768));
  const double patch_std = patch_w.std().item<double>();
  EXPECT_GT(patch_std, 0.97 * xavier_std) << "patch_embed.proj.weight std " << patch_std << ", xavier " << xavier_std;
  EXPECT_LT(patch_std, 1.03 * xavier_std) << "patch_embed.proj.weight std " << patch_std << ", xavier " << xavier_std;
  EXPECT_NEAR(p["cls_token"].std().item<double>(), 0.02, 0.004);
  EXPECT_NEAR(p["mask_token"].std().item<double>(), 0.02, 0.004);
}
