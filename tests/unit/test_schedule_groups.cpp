// The lr schedule against its closed form, lr scaling, and the weight-decay groups.
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/optim/param_groups.h"
#include "mae/optim/schedule.h"

using namespace mae::optim;

TEST(LrSchedule, WarmupThenHalfCosineClosedForm) {
  const LrSchedule s{1e-3, 1e-5, 5, 45};
  EXPECT_DOUBLE_EQ(s.at(0), 0.0);
  EXPECT_DOUBLE_EQ(s.at(2.5), 0.5e-3);  // halfway through warmup
  EXPECT_DOUBLE_EQ(s.at(5), 1e-3);      // peak
  for (double e : {7.3, 25.0, 40.0}) {
    const double expected = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + std::cos(M_PI * (e - 5) / 40));
    EXPECT_NEAR(s.at(e), expected, 1e-18) << "epoch " << e;
  }
  EXPECT_NEAR(s.at(25), 1e-5 + (1e-3 - 1e-5) * 0.5, 1e-18);  // cosine midpoint
  EXPECT_NEAR(s.at(45), 1e-5, 1e-18);
  // Per-iteration: iteration 3 of 10 in epoch 2 is epoch 2.3.
  EXPECT_DOUBLE_EQ(s.at(2 + 3.0 / 10), 1e-3 * 2.3 / 5);
}

TEST(LrSchedule, ScaledLrUsesEffectiveBatch) {
  EXPECT_DOUBLE_EQ(scaled_lr(1.5e-4, 64, 1, 64), 1.5e-4 * 4096 / 256);  // the official ViT-B recipe: 2.4e-3
  EXPECT_DOUBLE_EQ(scaled_lr(1.5e-4, 128, 4, 2), 1.5e-4 * 1024 / 256);
}

TEST(ParamGroups, BiasesAndOneDimParametersGetNoDecay) {
  mae::models::MaeViTOptions o;
  o.img_h = o.img_w = 16, o.patch_size = 8, o.embed_dim = 16, o.depth = 1, o.num_heads = 2;
  o.decoder_embed_dim = 8, o.decoder_depth = 1, o.decoder_num_heads = 2;
  mae::models::MaskedAutoencoderViT model(o);
  auto groups = weight_decay_groups(*model, 0.05, {});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].name, "no_decay");
  EXPECT_EQ(groups[0].weight_decay, 0.0);
  EXPECT_EQ(groups[1].weight_decay, 0.05);
  const std::vector<std::string> decay = {"cls_token", "mask_token", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
                                          "blocks.0.attn.proj.weight", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight",
                                          "decoder_embed.weight", "decoder_blocks.0.attn.qkv.weight",
                                          "decoder_blocks.0.attn.proj.weight", "decoder_blocks.0.mlp.fc1.weight",
                                          "decoder_blocks.0.mlp.fc2.weight", "decoder_pred.weight"};
  EXPECT_EQ(groups[1].names, decay);
  for (const auto& name : groups[0].names) {
    const bool bias = name.size() > 5 && name.substr(name.size() - 5) == ".bias";
    const bool norm = name.find("norm") != std::string::npos;
    EXPECT_TRUE(bias || norm) << name;
  }
  // The fixed sin-cos tables are in neither group.
  for (const auto& g : groups)
    for (const auto& name : g.names) EXPECT_TRUE(name != "pos_embed" && name != "decoder_pos_embed") << name;
  // Listed names move to no_decay.
  auto custom = weight_decay_groups(*model, 0.05, split_names(" cls_token , mask_token"));
  EXPECT_EQ(custom[1].names.size(), decay.size() - 2);
  EXPECT_EQ(split_names("a,, b ,"), (std::vector<std::string>{"a", "b"}));
}

TEST(ParamGroups, SetLrAppliesGroupScale) {
  auto a = torch::randn({2, 2}, torch::requires_grad()), b = torch::randn({2}, torch::requires_grad());
  std::vector<ParamGroup> groups = {{"a", {"a"}, {a}, 0.05, 1.0}, {"b", {"b"}, {b}, 0.0, 0.25}};
  auto opt = make_adamw(groups, 0.9, 0.95);
  set_lr(*opt, groups, 0.4);
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].options().get_lr(), 0.4);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 0.1);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[0].options()).weight_decay(), 0.05);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[1].options()).weight_decay(), 0.0);
}

TEST(ParamGroups, LayerDecayFollowsTheOfficialRule) {
  mae::models::VisionTransformerOptions o;
  o.img_h = o.img_w = 8, o.patch_size = 4, o.embed_dim = 8, o.depth = 2, o.num_heads = 2, o.num_classes = 3;
  mae::models::VisionTransformer vit(o);
  const double decay = 0.75;
  auto groups = layer_decay_groups(*vit, 0.05, {"pos_embed", "cls_token", "dist_token"}, decay, 2);
  // The official lr_decay.py: num_layers = depth + 1 = 3, scale = decay^(3 - id); group order by
  // first appearance in named_parameters (cls_token, pos_embed, patch_embed, blocks, fc_norm, head).
  std::vector<std::string> names;
  for (const auto& g : groups) names.push_back(g.name);
  EXPECT_EQ(names, (std::vector<std::string>{"layer_0_no_decay", "layer_0_decay", "layer_1_no_decay", "layer_1_decay",
                                             "layer_2_no_decay", "layer_2_decay", "layer_3_no_decay", "layer_3_decay"}));
  std::map<std::string, const ParamGroup*> by_name;
  for (const auto& g : groups) by_name[g.name] = &g;
  EXPECT_DOUBLE_EQ(by_name["layer_0_decay"]->lr_scale, decay * decay * decay);
  EXPECT_DOUBLE_EQ(by_name["layer_2_decay"]->lr_scale, decay);
  EXPECT_DOUBLE_EQ(by_name["layer_3_no_decay"]->lr_scale, 1.0);
  EXPECT_DOUBLE_EQ(by_name["layer_1_decay"]->weight_decay, 0.05);
  EXPECT_DOUBLE_EQ(by_name["layer_1_no_decay"]->weight_decay, 0.0);
  EXPECT_EQ(by_name["layer_0_no_decay"]->names, (std::vector<std::string>{"cls_token", "pos_embed", "patch_embed.proj.bias"}));
  EXPECT_EQ(by_name["layer_0_decay"]->names, (std::vector<std::string>{"patch_embed.proj.weight"}));
  EXPECT_EQ(by_name["layer_3_decay"]->names, (std::vector<std::string>{"head.weight"}));
  EXPECT_EQ(vit_layer_id("blocks.11.mlp.fc1.weight", 12), 12);
  EXPECT_EQ(vit_layer_id("fc_norm.weight", 12), 13);
  // Frozen parameters are left out (partial fine-tuning).
  for (auto& p : vit->blocks->parameters()) p.requires_grad_(false);
  size_t count = 0;
  for (const auto& g : layer_decay_groups(*vit, 0.05, {}, decay, 2)) count += g.params.size();
  EXPECT_EQ(count, 8u);  // cls_token, pos_embed, patch_embed w+b, fc_norm w+b, head w+b
}
