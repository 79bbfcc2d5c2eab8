// The `mae` command as a user meets it: help, version, exit codes, error lines; every shipped
// config loads.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/train/pretrain.h"

namespace {

struct Run {
  int code;
  std::string output;
};

Run run(const std::string& args) {
  const std::string command = std::string(MAE_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

TEST(Cli, HelpListsSubcommandsAndEveryConfigKeyWithDefault) {
  auto top = run("--help");
  EXPECT_EQ(top.code, 0) << top.output;
  for (const char* sub : {"pretrain", "visualize", "stats"}) EXPECT_NE(top.output.find(sub), std::string::npos) << sub;
  auto help = run("pretrain --help");
  EXPECT_EQ(help.code, 0);
  const auto schema = mae::train::pretrain_config();
  for (const auto& o : schema.options()) {
    EXPECT_NE(help.output.find(o.key), std::string::npos) << o.key << " missing from pretrain --help";
  }
  EXPECT_NE(help.output.find("default: mae_vit_tiny_patch4"), std::string::npos);
  EXPECT_NE(help.output.find("--resume"), std::string::npos);
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
}

TEST(Cli, BadPathsAreNamedWithTheirExitCode) {
  auto missing_data = run("pretrain --set data.root=/nonexistent/data --set log.progress=none");
  EXPECT_EQ(missing_data.code, 2) << missing_data.output;  // a wrong path in the config is a usage error
  EXPECT_NE(missing_data.output.find("/nonexistent/data"), std::string::npos) << missing_data.output;
  auto missing_ckpt = run("visualize /nonexistent/checkpoint-last.safetensors");
  EXPECT_EQ(missing_ckpt.code, 1) << missing_ckpt.output;
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
    auto config = mae::train::pretrain_config();
    EXPECT_NO_THROW(config.load_yaml_file(entry.path().string())) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 5);
}
