#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/core/config.h"
#include "mae/core/parse.h"
#include "mae/core/error.h"
#include "mae/models/presets.h"

using mae::core::Config;
using mae::core::ValueType;

static Config make() {
  Config c;
  c.add("model.embed_dim", ValueType::kInt, "768", "width");
  c.add("model.norm_pix_loss", ValueType::kBool, "true", "normalise targets");
  c.add("optim.blr", ValueType::kFloat, "1.5e-4", "base lr");
  c.add("data.mean", ValueType::kFloatList, "0.485,0.456,0.406", "mean");
  c.add("data.root", ValueType::kString, "", "folder");
  return c;
}

TEST(Config, DefaultsYamlAndOverridesInOrder) {
  Config c = make();
  EXPECT_EQ(c.get_int("model.embed_dim"), 768);
  EXPECT_DOUBLE_EQ(c.get_float("optim.blr"), 1.5e-4);
  EXPECT_EQ(c.get_float_list("data.mean"), (std::vector<double>{0.485, 0.456, 0.406}));
  c.load_yaml_string("model:\n  embed_dim: 192\n  norm_pix_loss: false\ndata:\n  mean: [0.5]\n  root: /tmp/x\n");
  EXPECT_EQ(c.get_int("model.embed_dim"), 192);
  EXPECT_FALSE(c.get_bool("model.norm_pix_loss"));
  EXPECT_EQ(c.get_float_list("data.mean"), std::vector<double>{0.5});
  EXPECT_EQ(c.get_string("data.root"), "/tmp/x");
  c.set_assignment("model.embed_dim=384");
  EXPECT_EQ(c.get_int("model.embed_dim"), 384);
}

TEST(Config, UnknownKeyNamesNearestValidKey) {
  Config c = make();
  try {
    c.set_assignment("model.embed_dims=3");
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'model.embed_dim'"), std::string::npos) << e.what();
  }
  try {
    c.load_yaml_string("optim:\n  bl: 1\n", "my.yaml");
    FAIL();
  } catch (const mae::UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("my.yaml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("optim.blr"), std::string::npos) << msg;
  }
  EXPECT_EQ(mae::core::nearest_key("embed_dim", c.options()), "model.embed_dim");
}

TEST(Config, WrongTypesAndMalformedInputAreUsageErrors) {
  Config c = make();
  EXPECT_THROW(c.set("model.embed_dim", "12x"), mae::UsageError);
  EXPECT_THROW(c.set("model.norm_pix_loss", "maybe"), mae::UsageError);
  EXPECT_THROW(c.set("data.mean", "[0.5, abc]"), mae::UsageError);
  EXPECT_THROW(c.set_assignment("no_equals_sign"), mae::UsageError);
  EXPECT_THROW(c.load_yaml_string("model: [unclosed"), mae::UsageError);
  EXPECT_THROW(c.load_yaml_string("- a\n- b\n"), mae::UsageError);
  EXPECT_THROW(c.load_yaml_file("/nonexistent/config.yaml"), mae::UsageError);
  EXPECT_EQ(c.get_int("model.embed_dim"), 768) << "a failed set must not change the value";
}

TEST(Config, ResolvedYamlLoadsBackIdentically) {
  Config a = make();
  a.set_assignment("model.embed_dim=192");
  a.set_assignment("data.mean=0.1,0.2,0.3");
  Config b = make();
  b.load_yaml_string(a.to_yaml());
  EXPECT_EQ(b.to_yaml(), a.to_yaml());
  EXPECT_EQ(b.get_int("model.embed_dim"), 192);
  EXPECT_EQ(b.get_float_list("data.mean"), (std::vector<double>{0.1, 0.2, 0.3}));
}

TEST(Config, HelpListsEveryKeyWithDefault) {
  Config c = make();
  const std::string help = c.help_text();
  for (const auto& o : c.options()) EXPECT_NE(help.find(o.key), std::string::npos) << o.key;
  EXPECT_NE(help.find("default: 1.5e-4"), std::string::npos) << help;
}

TEST(ModelConfig, OverridesApplyOverPreset) {
  Config c;
  mae::models::add_model_config(c);
  c.set_assignment("model.name=mae_vit_tiny_patch16");
  c.set_assignment("model.img_size=28");
  c.set_assignment("model.patch_size=4");
  c.set_assignment("model.in_chans=1");
  c.set_assignment("model.decoder_embed_dim=64");
  auto o = mae::models::mae_options_from_config(c);
  EXPECT_EQ(o.embed_dim, 192);
  EXPECT_EQ(o.patch_size, 4);
  EXPECT_EQ(o.img_h, 28);
  EXPECT_EQ(o.in_chans, 1);
  EXPECT_EQ(o.decoder_embed_dim, 64);
  EXPECT_EQ(o.decoder_depth, 8);
  c.set_assignment("model.patch_size=5");  // 28 % 5 != 0
  EXPECT_THROW(mae::models::mae_options_from_config(c), mae::UsageError);
}

TEST(Config, IsDefaultMeansNeverAssignedAndCopyFromFillsOnlyThose) {
  mae::core::Config c;
  c.add("data.a", mae::core::ValueType::kInt, "1", "");
  c.add("data.b", mae::core::ValueType::kInt, "2", "");
  c.add("model.c", mae::core::ValueType::kInt, "3", "");
  c.set_default("data.b", "5");
  EXPECT_TRUE(c.is_default("data.b"));
  c.set("data.a", "1");  // the default's value, but given by the user
  EXPECT_FALSE(c.is_default("data.a"));
  mae::core::Config other = c;
  other.set("data.a", "10");
  other.set("data.b", "20");
  other.set("model.c", "30");
  EXPECT_EQ(c.copy_from(other, "data."), 1);
  EXPECT_EQ(c.get_int("data.a"), 1);   // the user's value stays
  EXPECT_EQ(c.get_int("data.b"), 20);  // filled
  EXPECT_EQ(c.get_int("model.c"), 3);  // another prefix
}

TEST(CoreParse, WholeStringsOnly) {
  int64_t i = 0;
  double d = 0;
  EXPECT_TRUE(mae::core::parse_int("42", &i));
  EXPECT_EQ(i, 42);
  EXPECT_TRUE(mae::core::parse_int("-3", &i));
  EXPECT_EQ(i, -3);
  for (const char* bad : {"", "4x", "1.5", "1e3", "x", "99999999999999999999"}) EXPECT_FALSE(mae::core::parse_int(bad, &i)) << bad;
  EXPECT_TRUE(mae::core::parse_double("1.5e-4", &d));
  EXPECT_DOUBLE_EQ(d, 1.5e-4);
  for (const char* bad : {"", "0.1.2", "3k", "e"}) EXPECT_FALSE(mae::core::parse_double(bad, &d)) << bad;
}
