#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/config/config.h"
#include "mae/config/fields.h"
#include "mae/core/choice.h"
#include "mae/core/parse.h"
#include "mae/core/error.h"
#include "mae/models/presets.h"

using mae::config::Config;
using mae::config::ValueType;

static Config make() {
  Config c;
  c.add("data.files", ValueType::kStringList, "a,b", "files");
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
  c.apply(c.parse_yaml_string("model:\n  embed_dim: 192\n  norm_pix_loss: false\ndata:\n  mean: [0.5]\n  root: /tmp/x\n"), "");
  EXPECT_EQ(c.get_int("model.embed_dim"), 192);
  EXPECT_FALSE(c.get_bool("model.norm_pix_loss"));
  EXPECT_EQ(c.get_float_list("data.mean"), std::vector<double>{0.5});
  EXPECT_EQ(c.get_string("data.root"), "/tmp/x");
  c.apply({Config::parse_assignment("model.embed_dim=384")}, "--set");
  EXPECT_EQ(c.get_int("model.embed_dim"), 384);
}

TEST(Config, UnknownKeyNamesNearestValidKey) {
  Config c = make();
  try {
    c.set("model.embed_dims", "3");
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'model.embed_dim'"), std::string::npos) << e.what();
  }
  try {
    c.parse_yaml_string("optim:\n  bl: 1\n", "my.yaml");
    FAIL();
  } catch (const mae::UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("my.yaml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("optim.blr"), std::string::npos) << msg;
  }
  EXPECT_EQ(mae::config::nearest_key("embed_dim", c.options()), "model.embed_dim");
}

TEST(Config, WrongTypesAndMalformedInputAreUsageErrors) {
  Config c = make();
  EXPECT_THROW(c.set("model.embed_dim", "12x"), mae::UsageError);
  EXPECT_THROW(c.set("model.norm_pix_loss", "maybe"), mae::UsageError);
  EXPECT_THROW(c.set("data.mean", "[0.5, abc]"), mae::UsageError);
  EXPECT_THROW(Config::parse_assignment("no_equals_sign"), mae::UsageError);
  EXPECT_THROW(c.parse_yaml_string("model: [unclosed"), mae::UsageError);
  EXPECT_THROW(c.parse_yaml_string("- a\n- b\n"), mae::UsageError);
  EXPECT_THROW(c.parse_yaml_file("/nonexistent/config.yaml"), mae::UsageError);
  EXPECT_EQ(c.get_int("model.embed_dim"), 768) << "a failed set must not change the value";
  try {
    c.set("model.embed_dim", "wide");
    FAIL();
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'model.embed_dim' expects an int, got 'wide'"), std::string::npos) << e.what();
  }
}

TEST(Config, AListIsAcceptedOnlyByAListKey) {
  Config c = make();
  try {
    c.parse_yaml_string("data:\n  root: [1, 2]\n", "x.yaml");
    FAIL() << "a list for a string key must be refused";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'data.root' expects a string, got a list"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.parse_yaml_string("model: {embed_dim: [1]}"), mae::UsageError);
  c.apply(c.parse_yaml_string("data: {files: [x.txt, 'with space.txt']}"), "");
  EXPECT_EQ(c.get_string_list("data.files"), (std::vector<std::string>{"x.txt", "with space.txt"}));
  c.set("data.files", "");
  EXPECT_TRUE(c.get_string_list("data.files").empty());
}

TEST(Config, ResolvedYamlLoadsBackIdentically) {
  Config a = make();
  a.set("model.embed_dim", "192");
  a.set("data.mean", "0.1,0.2,0.3");
  a.set("data.files", "p.txt,q.txt");
  Config b = make();
  b.apply(b.parse_yaml_string(a.to_yaml()), "");
  EXPECT_EQ(b.to_yaml(), a.to_yaml());
  EXPECT_EQ(b.get_int("model.embed_dim"), 192);
  EXPECT_EQ(b.get_float_list("data.mean"), (std::vector<double>{0.1, 0.2, 0.3}));
}

TEST(Config, CommentsFollowTheirValues) {
  Config c = make();
  const std::string yaml = c.to_yaml({{"optim.blr", "why\nthis"}});
  EXPECT_NE(yaml.find("blr: 1.5e-4  # why this\n"), std::string::npos) << yaml;
  Config b = make();
  b.apply(b.parse_yaml_string(yaml), "");
  EXPECT_EQ(b.to_yaml(), c.to_yaml()) << "a comment changes nothing read back";
}

namespace {
enum class Fruit { kApple, kPear, kPlum };
constexpr mae::core::Choice<Fruit> kFruitNames[] = {{Fruit::kApple, "apple"}, {Fruit::kPear, "pear"}, {Fruit::kPlum, "plum"}};
}  // namespace

// A fixed choice is declared and written as its name and read through its table; --help and the
// error list the names.
TEST(Fields, AChoiceIsBoundByName) {
  using mae::config::Fields;
  Config c;
  Fruit fruit = Fruit::kPear;
  Fields declare(c, Fields::Mode::kDeclare);
  declare("eat.fruit", fruit, kFruitNames, "what to eat");
  EXPECT_EQ(c.get_string("eat.fruit"), "pear") << "the default is the member's name";
  EXPECT_NE(c.help_text().find("what to eat (apple, pear or plum)"), std::string::npos) << c.help_text();

  c.set("eat.fruit", "plum");
  Fields read(c, Fields::Mode::kRead);
  read("eat.fruit", fruit, kFruitNames, "what to eat");
  EXPECT_EQ(fruit, Fruit::kPlum);

  fruit = Fruit::kApple;
  Fields write(c, Fields::Mode::kWrite);
  write("eat.fruit", fruit, kFruitNames, "what to eat");
  EXPECT_EQ(c.get_string("eat.fruit"), "apple");
  EXPECT_NE(c.to_yaml().find("fruit: \"apple\""), std::string::npos) << c.to_yaml();
  Fruit again = Fruit::kPlum;
  read("eat.fruit", again, kFruitNames, "what to eat");
  EXPECT_EQ(again, Fruit::kApple) << "what is written reads back";

  c.set("eat.fruit", "banana");
  try {
    read("eat.fruit", fruit, kFruitNames, "what to eat");
    ADD_FAILURE() << "an unknown name was accepted";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("eat.fruit must be apple, pear or plum, got 'banana'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fruit, Fruit::kApple) << "a refused name leaves the member as it was";
}

TEST(Config, HelpListsEveryKeyWithDefault) {
  Config c = make();
  const std::string help = c.help_text();
  for (const auto& o : c.options()) EXPECT_NE(help.find(o.key), std::string::npos) << o.key;
  EXPECT_NE(help.find("default: 1.5e-4"), std::string::npos) << help;
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
