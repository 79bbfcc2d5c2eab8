// The `mae` command as a user meets it: help, version, exit codes, error lines; every shipped
// config loads.
#include <filesystem>

#include <gtest/gtest.h>

#include "common/run_command.h"
#include "mae/config/settings.h"
#include "mae/core/error.h"
#include "mae/models/presets.h"
#include "mae/tasks/classify.h"
#include "mae/tasks/pretrain.h"

namespace {

mae::testing::CommandResult run(const std::string& args) { return mae::testing::run_command(std::string(MAE_BINARY) + " " + args); }

}  // namespace

TEST(Cli, HelpListsSubcommandsAndEveryConfigKeyWithDefault) {
  auto top = run("--help");
  EXPECT_EQ(top.code, 0) << top.output;
  for (const char* sub : {"pretrain", "finetune", "linprobe", "eval", "predict", "knn", "visualize", "embed", "export", "stats"}) {
    EXPECT_NE(top.output.find(sub), std::string::npos) << sub;
  }
  auto finetune_help = run("finetune --help");
  EXPECT_EQ(finetune_help.code, 0);
  const auto finetune_schema = mae::config::classify_schema(false);
  for (const auto& o : finetune_schema.options()) {
    EXPECT_NE(finetune_help.output.find(o.key), std::string::npos) << o.key << " missing from finetune --help";
  }
  auto help = run("pretrain --help");
  EXPECT_EQ(help.code, 0);
  const auto schema = mae::config::pretrain_schema();
  for (const auto& o : schema.options()) {
    EXPECT_NE(help.output.find(o.key), std::string::npos) << o.key << " missing from pretrain --help";
  }
  EXPECT_NE(help.output.find("default: mae_vit_mini_patch4_dec64d2b4h"), std::string::npos);
  EXPECT_NE(help.output.find("--resume"), std::string::npos);
  EXPECT_NE(help.output.find("--overwrite"), std::string::npos);
  auto visualize_help = run("visualize --help");
  EXPECT_EQ(visualize_help.code, 0);
  for (const char* key : {"visualize.num_images", "visualize.channels", "model.in_chans", "data.root"}) {
    EXPECT_NE(visualize_help.output.find(key), std::string::npos) << key << " missing from visualize --help";
  }
  auto version = run("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_NE(version.output.find("LibTorch"), std::string::npos) << version.output;
}

TEST(Cli, UsageErrorsExitTwoWithOneErrorLineAndHint) {
  for (const char* args : {"", "pretrain --no-such-option", "pretrain --set model.embed_dims=3", "pretrain --set train.epochs=x",
                           "pretrain --device tpu", "pretrain --config /nonexistent.yaml", "bogus"}) {
    auto r = run(args);
    EXPECT_EQ(r.code, 2) << "mae " << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << "mae " << args << "\n" << r.output;
    EXPECT_NE(r.output.find("--help"), std::string::npos) << r.output;
  }
  EXPECT_NE(run("pretrain --set model.embed_dims=3").output.find("did you mean 'model.embed_dim'"), std::string::npos);
  const auto misspelt = run("pretrain --thread 1");
  EXPECT_EQ(misspelt.code, 2) << misspelt.output;
  EXPECT_NE(misspelt.output.find("did you mean --threads?"), std::string::npos) << misspelt.output;
  // A config key given a word where it takes a number says so in plain words.
  EXPECT_NE(run("pretrain --set train.epochs=x").output.find("expects an int, got 'x'"), std::string::npos);
}

TEST(Cli, BadPathsAreNamedWithTheirExitCode) {
  auto missing_data = run("pretrain --set data.root=/nonexistent/data --set log.progress=none");
  EXPECT_EQ(missing_data.code, 2) << missing_data.output;  // a wrong path in the config is a usage error
  EXPECT_NE(missing_data.output.find("/nonexistent/data"), std::string::npos) << missing_data.output;
  // One rule: a file that the command line or the settings name and that does not exist is a usage error.
  auto missing_ckpt = run("visualize /nonexistent/checkpoint-last.safetensors");
  EXPECT_EQ(missing_ckpt.code, 2) << missing_ckpt.output;
  EXPECT_NE(missing_ckpt.output.find("/nonexistent/checkpoint-last.safetensors"), std::string::npos) << missing_ckpt.output;
}

TEST(Cli, StatsPrintsMeanAndStdOfTheDefaultData) {
  // Fashion-MNIST from the Debian package: mean 0.2860, std 0.3530 over the whole training set.
  auto r = run("stats --max-samples 6000");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto mean_at = r.output.find("mean: [");
  const auto std_at = r.output.find("std: [");
  ASSERT_NE(mean_at, std::string::npos) << r.output;
  ASSERT_NE(std_at, std::string::npos) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(mean_at + 7)), 0.2860, 0.005) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(std_at + 6)), 0.3530, 0.005) << r.output;
}

TEST(Configs, EveryShippedPresetLoads) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(MAE_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    // finetune_*.yaml and linprobe_*.yaml are `mae finetune` / `mae linprobe` configs.
    const std::string name = entry.path().filename().string();
    const mae::config::UserSettings user{entry.path().string(), {}};
    // A named preset means its sizes, not the built-in default's small encoder.
    const int64_t expected_width = name.find("_base_") != std::string::npos    ? 768
                                   : name.find("_large_") != std::string::npos ? 1024
                                   : name.find("_huge_") != std::string::npos  ? 1280
                                                                               : 0;
    int64_t width = 0;
    if (name.rfind("finetune_", 0) == 0 || name.rfind("linprobe_", 0) == 0) {
      EXPECT_NO_THROW(width = mae::config::resolve_classify(name.rfind("linprobe_", 0) == 0, user).model.embed_dim) << name;
    } else {
      EXPECT_NO_THROW(width = mae::config::resolve_pretrain(user).model.embed_dim) << name;
    }
    if (expected_width > 0) EXPECT_EQ(width, expected_width) << name;
    ++count;
  }
  EXPECT_GE(count, 7);
}

TEST(Cli, DownstreamCommandsRefuseBadInputWithExitCodes) {
  auto missing = run("eval /nonexistent/checkpoint.safetensors");
  EXPECT_EQ(missing.code, 2) << missing.output;  // a wrong path is a usage error
  auto export_missing = run("export /nonexistent/checkpoint.safetensors --output /tmp/x.safetensors");
  EXPECT_EQ(export_missing.code, 2) << export_missing.output;
  EXPECT_NE(export_missing.output.find("/nonexistent/checkpoint.safetensors"), std::string::npos) << export_missing.output;
  for (const char* args : {"finetune --init /nonexistent/w.pth", "linprobe --set finetune.init=/nonexistent/w.pth",
                           "pretrain --init /nonexistent/w.pth", "pretrain --resume /nonexistent/checkpoint-0001.safetensors"}) {
    auto r = run(args);
    EXPECT_EQ(r.code, 2) << "mae " << args << "\n" << r.output;
    EXPECT_NE(r.output.find("/nonexistent/"), std::string::npos) << r.output;
  }
  auto bad_key = run("finetune --set finetune.trainable_block=1");
  EXPECT_EQ(bad_key.code, 2) << bad_key.output;
  EXPECT_NE(bad_key.output.find("finetune.trainable_blocks"), std::string::npos) << bad_key.output;
}
