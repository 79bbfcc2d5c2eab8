// docs/tutorial.md as a newcomer follows it: generated photos of 5 classes in class folders with
// list files and class names, its config file and every `build/bin/mae` command of its shell blocks
// run as written (with overrides appended that shrink the model and the schedules), then what the
// tutorial promises: class names everywhere, resuming without repeating the options, clear errors.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_command.h"
#include "mae/io/png_writer.h"
#include "mae/tasks/model_facts.h"

namespace {
namespace fs = std::filesystem;

const char* const kClasses[] = {"red", "green", "blue", "stripes", "dots"};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A 32 x 32 photo of class c: a colour (classes 0-2) or a grey pattern (3, 4), with noise.
torch::Tensor photo(int c, torch::Generator& gen) {
  auto img = torch::rand({32, 32, 3}, gen) * 0.3;
  if (c < 3) img.select(2, c).add_(0.6);
  if (c == 3) img.slice(0, 0, 32, 4).add_(0.6);                     // horizontal stripes
  if (c == 4) img.slice(0, 2, 32, 6).slice(1, 2, 32, 6).add_(0.6);  // a grid of dots
  return (img.clamp(0, 1) * 255).round().to(torch::kUInt8);
}

// The blocks of the tutorial: its YAML config and the `build/bin/mae` lines of its sh blocks
// (continuation lines joined).
struct Tutorial {
  std::string yaml;
  std::vector<std::string> commands;
};

Tutorial read_tutorial() {
  Tutorial t;
  std::istringstream doc(read_text(std::string(MAE_SOURCE_DIR) + "/docs/tutorial.md"));
  std::string line, block, command;  // block: the open block's language, "" outside
  int yaml_blocks = 0;
  while (std::getline(doc, line)) {
    if (line.rfind("```", 0) == 0) {
      block = block.empty() ? line.substr(3) : "";
      yaml_blocks += block == "yaml";
      continue;
    }
    if (block == "yaml" && yaml_blocks == 1) {
      t.yaml += line + "\n";
    } else if (block == "sh") {
      command += line;
      if (!command.empty() && command.back() == '\\') {
        command.pop_back();
        continue;
      }
      if (command.rfind("build/bin/mae ", 0) == 0) t.commands.push_back(command);
      command.clear();
    }
  }
  return t;
}

class TutorialWalk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_tutorial_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    auto gen = at::detail::createCPUGenerator(7);
    fs::create_directories(dir_ + "/data");
    std::ofstream train_list(dir_ + "/data/train.txt"), val_list(dir_ + "/data/val.txt"), names(dir_ + "/data/classes.txt");
    for (int c = 0; c < 5; ++c) {
      names << kClasses[c] << "\n";
      fs::create_directories(dir_ + "/data/images/" + kClasses[c]);
      for (int i = 0; i < 32; ++i) {
        const std::string rel = str_path(c, i);
        mae::io::write_png(dir_ + "/data/" + rel, photo(c, gen));
        (i < 24 ? train_list : val_list) << rel << " " << c << "\n";
      }
    }
    fs::create_directories(dir_ + "/new_images");
    for (int c = 0; c < 5; ++c) mae::io::write_png(dir_ + "/new_images/" + std::to_string(c) + ".png", photo(c, gen));
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  static std::string str_path(int c, int i) { return std::string("images/") + kClasses[c] + "/" + std::to_string(1000 + i) + ".png"; }

  // Runs `args` (a command line starting with build/bin/mae) in the tutorial's folder.
  mae::testing::CommandResult mae(const std::string& args) {
    std::string line = args;
    if (line.rfind("build/bin/mae", 0) == 0) line = line.substr(13);
    const bool threads = line.find("export ") > 2;  // every subcommand but export takes --threads
    return mae::testing::run_command("cd " + dir_ + " && " + MAE_BINARY + " " + line + (threads ? " --threads 2" : ""));
  }
  std::string dir_;
};

// Overrides appended to a tutorial command so that it runs in seconds; the command's own options
// come first and are all applied (later --set win).
std::string shrink(const std::string& subcommand) {
  const std::string train = " --set train.epochs=2 --set train.warmup_epochs=1 --set train.batch_size=16 --set log.progress=none";
  if (subcommand == "pretrain") {
    return train + " --set model.img_size=32 --set model.patch_size=8 --set model.embed_dim=32 --set model.depth=2" +
           " --set model.num_heads=2 --set model.decoder_embed_dim=16 --set model.decoder_depth=1 --set model.decoder_num_heads=2";
  }
  if (subcommand == "finetune" || subcommand == "linprobe") return train;
  return "";
}

TEST_F(TutorialWalk, EveryCommandRunsAsWrittenOnFolderAndListData) {
  Tutorial t = read_tutorial();
  ASSERT_NE(t.yaml.find("/path/to/data"), std::string::npos) << "the tutorial's config block changed:\n" << t.yaml;
  t.yaml = std::regex_replace(t.yaml, std::regex("/path/to/data"), dir_ + "/data");
  std::ofstream(dir_ + "/my_data.yaml") << t.yaml;
  ASSERT_GE(t.commands.size(), 6u);

  auto stats = mae("stats --config my_data.yaml");
  ASSERT_EQ(stats.code, 0) << stats.output;
  EXPECT_NE(stats.output.find("mean: ["), std::string::npos) << stats.output;

  for (const auto& command : t.commands) {
    std::istringstream tokens(command);
    std::string binary, subcommand;
    tokens >> binary >> subcommand;
    const auto r = mae(command + shrink(subcommand));
    ASSERT_EQ(r.code, 0) << command << "\n" << r.output;
    if (subcommand == "pretrain") {
      // The k-NN comparison on the last lines, and in metrics.jsonl.
      EXPECT_NE(r.output.find("random init"), std::string::npos) << r.output;
      EXPECT_NE(r.output.rfind("k-NN top-1"), std::string::npos) << r.output;
      // The images the k-NN used (all 120 / 40 of the lists), not the settings' caps (10000 / 2000).
      EXPECT_NE(r.output.find("k 20, 120 train / 40 val images"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("precision "), std::string::npos) << r.output;
      EXPECT_NE(read_text(dir_ + "/runs/pre/metrics.jsonl").find("knn_top1_random_init"), std::string::npos);
    }
  }

  // Class names from data.class_names_file, everywhere the classes are named.
  const auto facts = mae::tasks::read_facts(dir_ + "/runs/ft/checkpoint-best.safetensors").facts;
  ASSERT_TRUE(facts);
  EXPECT_EQ(facts->class_names, std::vector<std::string>(std::begin(kClasses), std::end(kClasses)));
  const auto metrics = nlohmann::json::parse(read_text(dir_ + "/runs/ft/eval/metrics.json"));
  EXPECT_TRUE(metrics.at("per_class").contains("stripes")) << metrics.dump();
  EXPECT_NE(read_text(dir_ + "/predictions.jsonl").find("\"class\":\""), std::string::npos);
  std::string predictions = read_text(dir_ + "/predictions.jsonl");
  bool named = false;
  for (const char* name : kClasses) named |= predictions.find(std::string("\"class\":\"") + name + "\"") != std::string::npos;
  EXPECT_TRUE(named) << predictions;
  EXPECT_TRUE(fs::exists(dir_ + "/runs/ft/eval/confusion.png"));
  EXPECT_TRUE(fs::exists(dir_ + "/runs/pre/vis/reconstruction.png"));
  EXPECT_TRUE(fs::exists(dir_ + "/out/classifier.safetensors"));  // export made the folder

  // A stopped run continues without its options: the run's own config.yaml is the base.
  auto resumed = mae("pretrain --resume auto --output runs/pre --set train.epochs=3");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  auto finetune_resumed = mae("finetune --resume auto --output runs/ft --set train.epochs=3");
  ASSERT_EQ(finetune_resumed.code, 0) << finetune_resumed.output;
  EXPECT_NE(finetune_resumed.output.find("resumed from"), std::string::npos) << finetune_resumed.output;

  // Resuming into another model size is refused with a message saying so, and nothing is rewritten.
  const std::string config_before = read_text(dir_ + "/runs/pre/config.yaml");
  auto wider = mae("pretrain --resume auto --output runs/pre --set model.embed_dim=64 --set train.epochs=4");
  EXPECT_EQ(wider.code, 2) << wider.output;
  EXPECT_NE(wider.output.find("embed_dim 32 in the checkpoint but 64 now"), std::string::npos) << wider.output;
  EXPECT_EQ(read_text(dir_ + "/runs/pre/config.yaml"), config_before);

  // Pretraining on the folder alone (no labels: the k-NN monitor says it is off).
  auto folder = mae("pretrain --config my_data.yaml --set data.source=folder --set data.train_files=images --set data.val_files=images"
                    " --output runs/folder" + shrink("pretrain"));
  ASSERT_EQ(folder.code, 0) << folder.output;
  EXPECT_NE(folder.output.find("k-NN monitor off"), std::string::npos) << folder.output;

  // A names file that does not exist is a usage error naming it.
  auto missing = mae("finetune --config my_data.yaml --set data.class_names_file=no_such.txt --output runs/x" + shrink("finetune"));
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("no_such.txt"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(dir_ + "/runs/x/config.yaml"));
}

}  // namespace
