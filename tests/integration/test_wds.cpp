// data.source=wds end to end: `mae pack` on class folders, then pretraining from the shards. (The
// resume inside an epoch from shards is Resume.InsideAnEpochIsBitwiseEqualFromShards.)
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_command.h"
#include "pretrain_fixture.h"
#include "wds_fixture.h"

using namespace mae;
using mae::testing::PretrainFixture;

namespace {

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_F(PretrainFixture, PackWritesShardsAndAnIndexThatPretrainingReads) {
  const std::string images = mae::testing::write_class_folders(dir_);
  const auto r = mae::testing::run_command(std::string(MAE_BINARY) + " pack --input " + images + " --output " + dir_ +
                                           "/shards/train-%04d.tar --shard-size 40kB --threads 2 --no-progress");
  ASSERT_EQ(r.code, 0) << r.output;
  // Quoted, so that a shell pastes the pattern as one word.
  EXPECT_NE(r.output.find("--set 'data.train_files=" + dir_ + "/shards/train-{0000.."), std::string::npos) << r.output;
  std::ifstream in(dir_ + "/shards/train.index.json");
  ASSERT_TRUE(in) << r.output;
  const auto index = nlohmann::json::parse(in);
  EXPECT_EQ(index.at("samples"), 128);
  EXPECT_EQ(index.at("classes"), (std::vector<std::string>{"class0", "class1", "class2", "class3"}));
  EXPECT_GE(index.at("shards").size(), 3u);
  for (const auto& s : index.at("shards")) {
    EXPECT_LE(s.at("bytes").get<uint64_t>(), 40000u);
    EXPECT_EQ(std::filesystem::file_size(dir_ + "/shards/" + s.at("name").get<std::string>()), s.at("bytes").get<uint64_t>());
  }
  // Pasted unquoted, the pattern reaches mae as one word per shard after one --set: all are read.
  std::string sets, words;
  for (const auto& s : settings("expanded", concat(mae::testing::wds_settings(dir_), {"train.max_steps=1"})).sets) {
    if (s.rfind("data.train_files=", 0) != 0) sets += " --set " + s;
  }
  for (const auto& s : index.at("shards")) words += " data.train_files=" + dir_ + "/shards/" + s.at("name").get<std::string>();
  const auto expanded = mae::testing::run_command(std::string(MAE_BINARY) + " pretrain" + sets + " --set" + words + " --threads 2");
  ASSERT_EQ(expanded.code, 0) << expanded.output;
  EXPECT_NE(expanded.output.find("data: 128 images"), std::string::npos) << expanded.output;

  const auto result = tasks::run_pretrain(config("wds", concat(mae::testing::wds_settings(dir_), {"train.epochs=2"})),
                                          torch::kCPU, {});
  EXPECT_EQ(result.steps, 16);  // 128 samples / batch 16, two epochs
  EXPECT_TRUE(std::isfinite(result.last_loss));
  EXPECT_LT(result.last_loss, result.first_loss);
}
