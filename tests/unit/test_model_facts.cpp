// Checkpoint model facts: the codec writes the documented keys and reads them back member for
// member; format-1 checkpoints (facts as strings) are read; a missing optional key takes its
// documented default, a missing required one or an unknown model kind is an error.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/io/safetensors.h"
#include "mae/tasks/model_facts.h"
#include "mae/train/checkpoint.h"

using namespace mae;
using tasks::ModelFacts;
using tasks::ModelKind;

namespace {

ModelFacts tiny_mae() {
  models::MaeViTOptions o;
  o.img_h = 16, o.img_w = 24, o.patch_size = 4, o.in_chans = 2, o.embed_dim = 32, o.depth = 2, o.num_heads = 2;
  o.decoder_embed_dim = 16, o.decoder_depth = 1, o.decoder_num_heads = 2, o.norm_pix_loss = true, o.norm_eps = 1e-5;
  return ModelFacts::of_mae(o, 0.6, {0.5, 0.25}, {0.2, 0.1});
}

ModelFacts tiny_vit() {
  models::VisionTransformerOptions o;
  o.img_h = o.img_w = 16, o.patch_size = 4, o.in_chans = 1, o.embed_dim = 32, o.depth = 2, o.num_heads = 2;
  o.num_classes = 3, o.global_pool = false, o.probe_head = true, o.mlp_ratio = 2.0;
  ModelFacts f = ModelFacts::of_vit(o, {"cat", "dog", "emu"}, {0.5}, {0.2});
  f.val_top1 = 87.5, f.epoch = 4;
  return f;
}

std::vector<std::string> keys_of(const nlohmann::json& j) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  return keys;
}

class ModelFactsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_facts_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::map<std::string, std::string>& metadata) {
    const std::string path = dir_ + "/" + name + ".safetensors";
    io::write_safetensors(path, {{"w", torch::zeros({2})}}, metadata);
    return path;
  }
  std::string dir_;
};

}  // namespace

TEST(ModelFacts, MaeRoundTripsThroughTheDocumentedKeys) {
  const ModelFacts f = tiny_mae();
  const nlohmann::json j = f;
  // The on-disk keys (sorted), as checkpoints and `mae export` have always written them.
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"decoder_depth", "decoder_embed_dim", "decoder_num_heads", "depth",
                                                  "embed_dim", "img_h", "img_w", "in_chans", "mask_ratio", "mean",
                                                  "mlp_ratio", "model", "norm_eps", "norm_pix_loss", "num_heads",
                                                  "patch_size", "std"}));
  EXPECT_EQ(j.at("model"), "mae");
  EXPECT_EQ(j.at("mask_ratio"), 0.6) << "numbers stored exactly";
  EXPECT_EQ(j.at("img_w"), 24);
  const auto back = j.get<ModelFacts>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.kind, ModelKind::kMae);
  EXPECT_EQ(back.img_w, 24);
  EXPECT_EQ(back.decoder_embed_dim, 16);
  EXPECT_TRUE(back.norm_pix_loss);
  EXPECT_DOUBLE_EQ(back.norm_eps, 1e-5);
  EXPECT_EQ(back.mean, (std::vector<double>{0.5, 0.25}));
  EXPECT_FALSE(back.val_top1 || back.epoch);
}

TEST(ModelFacts, VitRoundTripsWithItsHeadAndBestScore) {
  const ModelFacts f = tiny_vit();
  const nlohmann::json j = f;
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"class_names", "depth", "embed_dim", "epoch", "global_pool", "img_h",
                                                  "img_w", "in_chans", "mean", "mlp_ratio", "model", "norm_eps",
                                                  "num_classes", "num_heads", "patch_size", "probe_head", "std",
                                                  "val_top1"}));
  const auto back = j.get<ModelFacts>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.kind, ModelKind::kVit);
  EXPECT_EQ(back.num_classes, 3);
  EXPECT_FALSE(back.global_pool);
  EXPECT_TRUE(back.probe_head);
  EXPECT_EQ(back.class_names, (std::vector<std::string>{"cat", "dog", "emu"}));
  ASSERT_TRUE(back.val_top1 && back.epoch);
  EXPECT_DOUBLE_EQ(*back.val_top1, 87.5);
  EXPECT_EQ(*back.epoch, 4);
  const auto o = back.vit_options({});
  EXPECT_EQ(o.embed_dim, 32);
  EXPECT_DOUBLE_EQ(o.mlp_ratio, 2.0);
}

TEST(ModelFacts, MissingOptionalKeysTakeTheDocumentedDefaults) {
  nlohmann::json j = tiny_vit();
  for (const char* key : {"mlp_ratio", "norm_eps", "mean", "std", "num_classes", "global_pool", "probe_head", "class_names",
                          "val_top1", "epoch"}) {
    j.erase(key);
  }
  const auto f = j.get<ModelFacts>();
  const ModelFacts defaults;
  EXPECT_DOUBLE_EQ(f.mlp_ratio, 4.0);
  EXPECT_DOUBLE_EQ(f.norm_eps, 1e-6);
  EXPECT_EQ(f.mlp_ratio, defaults.mlp_ratio);
  EXPECT_TRUE(f.mean.empty() && f.std.empty() && f.class_names.empty());
  EXPECT_EQ(f.num_classes, 0);
  EXPECT_TRUE(f.global_pool);
  EXPECT_FALSE(f.probe_head);
  EXPECT_FALSE(f.val_top1 || f.epoch);
  EXPECT_EQ(f.embed_dim, 32) << "what is there is still read";

  nlohmann::json mae = tiny_mae();
  mae.erase("mask_ratio"), mae.erase("norm_pix_loss");
  const auto m = mae.get<ModelFacts>();
  EXPECT_DOUBLE_EQ(m.mask_ratio, 0.75);
  EXPECT_FALSE(m.norm_pix_loss);
}

TEST(ModelFacts, MissingShapeOrUnknownKindIsAnError) {
  nlohmann::json no_width = tiny_vit();
  no_width.erase("embed_dim");
  try {
    (void)no_width.get<ModelFacts>();
    FAIL() << "embed_dim is required";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"embed_dim\""), std::string::npos) << e.what();
  }
  nlohmann::json no_decoder = tiny_mae();
  no_decoder.erase("decoder_depth");
  EXPECT_THROW((void)no_decoder.get<ModelFacts>(), Error);
  nlohmann::json unknown = tiny_mae();
  unknown["model"] = "vitt";
  EXPECT_THROW((void)unknown.get<ModelFacts>(), Error);
}

TEST(ModelFacts, DifferenceNamesTheShapeFactsThatDiffer) {
  ModelFacts stored = tiny_mae(), wanted = tiny_mae();
  EXPECT_EQ(tasks::model_difference(stored, wanted), "");
  wanted.embed_dim = 64, wanted.decoder_depth = 2, wanted.mask_ratio = 0.9;  // the mask ratio is no shape
  EXPECT_EQ(tasks::model_difference(stored, wanted),
            "embed_dim 32 in the checkpoint but 64 now, decoder_depth 1 in the checkpoint but 2 now");
  EXPECT_EQ(tasks::model_difference(stored, tiny_vit()).rfind("model \"mae\" in the checkpoint but \"vit\" now", 0), 0u);
}

TEST_F(ModelFactsFiles, Format2RoundTripsThroughTheWeightsFile) {
  const std::string path = write("checkpoint-best", tasks::facts_metadata(tiny_vit(), "model:\n  name: x\n"));
  const auto stored = tasks::read_facts(path);
  EXPECT_TRUE(stored.ours);
  ASSERT_TRUE(stored.facts);
  EXPECT_EQ(nlohmann::json(*stored.facts), nlohmann::json(tiny_vit()));
  EXPECT_EQ(stored.config_yaml, "model:\n  name: x\n");
}

TEST_F(ModelFactsFiles, Format1StringsAreRead) {
  const std::string path = write("checkpoint-0003",
                                 {{train::kFormatKey, "mae-checkpoint-1"},
                                  {train::kConfigKey, "a: 1\n"},
                                  {"model", "vit"},
                                  {"img_h", "16"},
                                  {"img_w", "16"},
                                  {"patch_size", "4"},
                                  {"in_chans", "1"},
                                  {"embed_dim", "32"},
                                  {"depth", "2"},
                                  {"num_heads", "2"},
                                  {"mlp_ratio", "4.000000"},
                                  {"norm_eps", "0.000001"},
                                  {"num_classes", "2"},
                                  {"global_pool", "false"},
                                  {"probe_head", "false"},
                                  {"class_names", "[\"cat\",\"dog\"]"},
                                  {"mean", "0.5,0.25"},
                                  {"std", "0.2,0.1"},
                                  {"epoch", "3"},
                                  {"iteration", "12"}});
  const auto stored = tasks::read_facts(path);
  EXPECT_TRUE(stored.ours);
  EXPECT_EQ(stored.config_yaml, "a: 1\n");
  ASSERT_TRUE(stored.facts);
  const ModelFacts& f = *stored.facts;
  EXPECT_EQ(f.kind, ModelKind::kVit);
  EXPECT_EQ(f.img_h, 16);
  EXPECT_EQ(f.embed_dim, 32);
  EXPECT_DOUBLE_EQ(f.mlp_ratio, 4.0);
  EXPECT_DOUBLE_EQ(f.norm_eps, 1e-6);
  EXPECT_EQ(f.num_classes, 2);
  EXPECT_FALSE(f.global_pool);
  EXPECT_EQ(f.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(f.mean, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(f.std, (std::vector<double>{0.2, 0.1}));
  EXPECT_FALSE(f.val_top1);

  // Format 1 of a pretraining checkpoint, with its preset name.
  const auto mae = tasks::read_facts(write("mae", {{train::kFormatKey, "mae-checkpoint-1"},
                                                   {"model", "mae"},
                                                   {"model_name", "mae_vit_tiny_patch4"},
                                                   {"img_h", "16"},
                                                   {"img_w", "16"},
                                                   {"patch_size", "4"},
                                                   {"in_chans", "1"},
                                                   {"embed_dim", "32"},
                                                   {"depth", "2"},
                                                   {"num_heads", "2"},
                                                   {"decoder_embed_dim", "16"},
                                                   {"decoder_depth", "1"},
                                                   {"decoder_num_heads", "2"},
                                                   {"norm_pix_loss", "true"},
                                                   {"mask_ratio", "0.750000"}}));
  ASSERT_TRUE(mae.facts);
  EXPECT_EQ(mae.facts->kind, ModelKind::kMae);
  EXPECT_EQ(mae.facts->model_name, "mae_vit_tiny_patch4");
  EXPECT_EQ(mae.facts->decoder_embed_dim, 16);
  EXPECT_TRUE(mae.facts->norm_pix_loss);
  EXPECT_DOUBLE_EQ(mae.facts->mask_ratio, 0.75);
}

TEST_F(ModelFactsFiles, FilesWithoutFactsHaveNone) {
  // Ours, but without model facts (a checkpoint of a task that records none).
  const auto bare = tasks::read_facts(write("bare", {{train::kFormatKey, train::kFormatValue}, {"note", "x"}}));
  EXPECT_TRUE(bare.ours);
  EXPECT_FALSE(bare.facts);
  // Another tool's file.
  const auto foreign = tasks::read_facts(write("foreign", {{"format", "pt"}}));
  EXPECT_FALSE(foreign.ours || foreign.facts);
  // Damaged facts name the file.
  const std::string damaged = write("damaged", {{train::kFormatKey, train::kFormatValue}, {train::kFactsKey, "[1]"}});
  try {
    (void)tasks::read_facts(damaged);
    FAIL() << "damaged facts must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(damaged), std::string::npos) << e.what();
  }
}
