// Outputs and run folders a user can trust, through the `mae` command as a user meets them:
// predict / embed name an unreadable image instead of writing another image's result, a new run
// never mixes with the one already in its folder, and a configuration without a val split trains
// to its end.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_command.h"
#include "common/synthetic_idx.h"
#include "mae/io/png_writer.h"

namespace {
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A 16 x 16 RGB picture of class c (a bright channel) with noise.
torch::Tensor picture(int c, torch::Generator& gen) {
  auto img = torch::rand({16, 16, 3}, gen) * 0.3;
  img.select(2, c).add_(0.6);
  return (img.clamp(0, 1) * 255).round().to(torch::kUInt8);
}

const char* const kTinyVit =
    " --set model.img_size=16 --set model.patch_size=8 --set model.embed_dim=32 --set model.depth=1 --set model.num_heads=2"
    " --set train.batch_size=8 --set train.warmup_epochs=0 --set log.progress=none --set train.precision=fp32 --threads 2";
const char* const kTinyMae =
    " --set model.decoder_embed_dim=16 --set model.decoder_depth=1 --set model.decoder_num_heads=2 --set knn.every=0"
    " --set visualize.num_images=2";

class RunOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_outputs_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/idx");
    mae::testing::write_synthetic_idx(dir_ + "/idx", 64, 16, 4);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  mae::testing::CommandResult mae(const std::string& args) {
    return mae::testing::run_command("cd " + dir_ + " && " + MAE_BINARY + " " + args);
  }
  // Pretraining the tiny MAE on the synthetic IDX set into runs/<name>.
  std::string pretrain(const std::string& name, int epochs) {
    return "pretrain --set data.source=idx --set data.root=idx --set data.train_files=images.idx,labels.idx"
           " --set data.val_files=images.idx,labels.idx --set model.in_chans=1 --set data.mean=0.2 --set data.std=0.3" +
           std::string(kTinyVit) + kTinyMae + " --set train.epochs=" + std::to_string(epochs) + " --output runs/" + name;
  }
  // photos/{train,val}/class{0,1,2}/{0..3}.png: 16 x 16 RGB.
  void write_photos(torch::Generator& gen) {
    for (const char* split : {"train", "val"}) {
      for (int c = 0; c < 3; ++c) {
        const std::string folder = dir_ + "/photos/" + split + "/class" + std::to_string(c);
        fs::create_directories(folder);
        for (int i = 0; i < 4; ++i) mae::io::write_png(folder + "/" + std::to_string(i) + ".png", picture(c, gen));
      }
    }
  }
  std::string dir_;
};

TEST_F(RunOutputs, PredictAndEmbedNameUnreadableImagesInsteadOfRepeatingAnother) {
  auto gen = at::detail::createCPUGenerator(3);
  write_photos(gen);
  const auto finetune = mae("finetune --set data.source=class_folder --set data.root=photos --set data.train_files=train"
                            " --set data.val_files=val --set model.in_chans=3 --set data.mean=0.5,0.5,0.5 --set data.std=0.3,0.3,0.3"
                            " --set train.epochs=1 --output runs/ft" + std::string(kTinyVit));
  ASSERT_EQ(finetune.code, 0) << finetune.output;
  // Two pictures and a text file that only looks like one, sorted between them.
  fs::create_directories(dir_ + "/new");
  mae::io::write_png(dir_ + "/new/a.png", picture(0, gen));
  std::ofstream(dir_ + "/new/b_notes.png") << "not a picture\n";
  mae::io::write_png(dir_ + "/new/c.png", picture(2, gen));

  const auto predict = mae("predict runs/ft/checkpoint-last.safetensors --input new --output pred.jsonl --threads 2");
  ASSERT_EQ(predict.code, 0) << predict.output;
  EXPECT_NE(predict.output.find("predicted 2 image(s); 1 unreadable"), std::string::npos) << predict.output;
  std::map<std::string, nlohmann::json> rows;
  for (const auto& line : lines_of(dir_ + "/pred.jsonl")) {
    const auto j = nlohmann::json::parse(line);
    const std::string name = fs::path(j.at("path").get<std::string>()).filename().string();
    EXPECT_EQ(rows.count(name), 0u) << "a second row for " << name << ":\n" << read_text(dir_ + "/pred.jsonl");
    rows[name] = j;
  }
  ASSERT_EQ(rows.size(), 3u) << read_text(dir_ + "/pred.jsonl");
  EXPECT_TRUE(rows["a.png"].contains("top"));
  EXPECT_TRUE(rows["c.png"].contains("top"));
  EXPECT_FALSE(rows["b_notes.png"].contains("top")) << rows["b_notes.png"].dump();
  EXPECT_NE(rows["b_notes.png"].value("error", "").find("unreadable"), std::string::npos) << rows["b_notes.png"].dump();

  const auto csv = mae("predict runs/ft/checkpoint-last.safetensors --input new --format csv --output pred.csv --top-k 2 --threads 2");
  ASSERT_EQ(csv.code, 0) << csv.output;
  const auto csv_lines = lines_of(dir_ + "/pred.csv");
  ASSERT_EQ(csv_lines.size(), 4u) << read_text(dir_ + "/pred.csv");
  EXPECT_EQ(csv_lines[0], "path,class1,prob1,class2,prob2,error");
  EXPECT_NE(csv_lines[2].find("b_notes.png,,,,,\"unreadable: "), std::string::npos) << csv_lines[2];

  // eval names the classes as metrics.json does, and scores only the images it could read.
  std::ofstream(dir_ + "/photos/val/class1/broken.png") << "not a picture either\n";
  const auto eval = mae("eval runs/ft/checkpoint-last.safetensors --threads 2");
  ASSERT_EQ(eval.code, 0) << eval.output;
  EXPECT_NE(eval.output.find("\"class1\":"), std::string::npos) << eval.output;
  EXPECT_NE(eval.output.find("on 12 images"), std::string::npos) << eval.output;

  const auto embed = mae("embed runs/ft/checkpoint-last.safetensors --input new --output feats.npy --threads 2");
  ASSERT_EQ(embed.code, 0) << embed.output;
  EXPECT_NE(embed.output.find("wrote 2 feature vectors"), std::string::npos) << embed.output;
  const auto paths = lines_of(dir_ + "/feats.npy.paths.txt");
  ASSERT_EQ(paths.size(), 2u) << read_text(dir_ + "/feats.npy.paths.txt");
  EXPECT_EQ(fs::path(paths[0]).filename(), "a.png");
  EXPECT_EQ(fs::path(paths[1]).filename(), "c.png");
  const auto unreadable = lines_of(dir_ + "/feats.npy.unreadable.txt");
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_EQ(fs::path(unreadable[0]).filename(), "b_notes.png");
}

TEST_F(RunOutputs, ANewRunIntoAnOccupiedFolderIsRefusedUntilOverwrite) {
  const auto first = mae(pretrain("a", 2));
  ASSERT_EQ(first.code, 0) << first.output;
  const std::string config = read_text(dir_ + "/runs/a/config.yaml");
  const std::string metrics = read_text(dir_ + "/runs/a/metrics.jsonl");
  ASSERT_TRUE(fs::exists(dir_ + "/runs/a/checkpoint-0002.safetensors"));

  // Refused before anything is written, with the ways out.
  const auto again = mae(pretrain("a", 1));
  EXPECT_EQ(again.code, 2) << again.output;
  for (const char* way : {"--resume auto", "--output", "--overwrite"}) EXPECT_NE(again.output.find(way), std::string::npos) << again.output;
  EXPECT_EQ(read_text(dir_ + "/runs/a/config.yaml"), config);
  EXPECT_EQ(read_text(dir_ + "/runs/a/metrics.jsonl"), metrics);

  // --overwrite removes the old run first: no checkpoint of it stays for --resume auto to pick.
  const auto replaced = mae(pretrain("a", 1) + " --overwrite");
  ASSERT_EQ(replaced.code, 0) << replaced.output;
  EXPECT_FALSE(fs::exists(dir_ + "/runs/a/checkpoint-0002.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ + "/runs/a/checkpoint-0001.safetensors"));
  EXPECT_NE(read_text(dir_ + "/runs/a/config.yaml").find("epochs: 1"), std::string::npos);
  // A 1-epoch run's metrics alone: fewer lines than the 2-epoch run had (appending would add to them).
  std::istringstream before(metrics);
  size_t first_lines = 0;
  for (std::string line; std::getline(before, line);) ++first_lines;
  EXPECT_LT(lines_of(dir_ + "/runs/a/metrics.jsonl").size(), first_lines);
  const auto resumed = mae("pretrain --resume auto --output runs/a --threads 2");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("1 epoch(s) done"), std::string::npos) << resumed.output;

  // --resume and --overwrite exclude each other.
  EXPECT_EQ(mae(pretrain("a", 1) + " --overwrite --resume auto").code, 2);
}

TEST_F(RunOutputs, PretrainingWithoutAValSplitRunsToItsEnd) {
  const auto run = mae(pretrain("noval", 1) + " --set data.val_files= --set knn.every=1");
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("k-NN monitor off"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("the reconstruction pictures show the first 2 train images"), std::string::npos) << run.output;
  EXPECT_TRUE(fs::exists(dir_ + "/runs/noval/reconstructions/epoch-0001.png"));
  EXPECT_TRUE(fs::exists(dir_ + "/runs/noval/checkpoint-0001.safetensors"));
}

TEST_F(RunOutputs, TheStartSaysWhatAChoiceCosts) {
  auto gen = at::detail::createCPUGenerator(4);
  write_photos(gen);
  // Colour photos with the grey default model.in_chans=1: trained in grey, and said so.
  const auto grey = mae("pretrain --set data.source=class_folder --set data.root=photos --set data.train_files=train"
                        " --set data.val_files=val --set train.max_steps=1 --output runs/grey" + std::string(kTinyVit) + kTinyMae);
  ASSERT_EQ(grey.code, 0) << grey.output;
  EXPECT_NE(grey.output.find("the images have 3 channels"), std::string::npos) << grey.output;
  EXPECT_NE(grey.output.find("set model.in_chans=3"), std::string::npos) << grey.output;
  // fp16 on a CPU is emulated: a warning at the start names what to use instead.
  const auto fp16 = mae(pretrain("fp16", 1) + " --set train.max_steps=1 --set train.precision=fp16");
  ASSERT_EQ(fp16.code, 0) << fp16.output;
  EXPECT_NE(fp16.output.find("train.precision=fp16 on a CPU"), std::string::npos) << fp16.output;
  EXPECT_EQ(mae(pretrain("fp32", 1) + " --set train.max_steps=1").output.find("on a CPU: fp16"), std::string::npos);
}

}  // namespace
