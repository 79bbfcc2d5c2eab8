// A 6-band 16-bit set end to end through the `mae` command: statistics, pretraining, the linear
// probe and fine-tuning from that checkpoint, and visualize with a band composite; a 3-channel model on it stops
// with an error naming both channel counts. The set (class folders of LZW TIFFs, some tiled and
// planar) and a memory-mapped .npy twin are made here.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/multiband_files.h"
#include "common/run_command.h"
#include "mae/io/npy.h"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kBands = 6, kSize = 16, kPerClass = 16;

class MultibandCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_multiband_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    // Class "bright" lifts band 4 (near infrared, say) by a third: a probe can tell them apart.
    std::vector<torch::Tensor> all;
    std::vector<int64_t> labels;
    for (int64_t c = 0; c < 2; ++c) {
      const std::string folder = dir_ + "/scenes/" + (c == 0 ? "dark" : "bright");
      fs::create_directories(folder);
      for (int64_t i = 0; i < kPerClass; ++i) {
        auto pixels = mae::testing::multiband_image(kSize, kSize, kBands, torch::kUInt16, 10 * c + i);
        if (c == 1) pixels.select(2, 3).copy_((pixels.select(2, 3).to(torch::kInt32) + 4000).to(torch::kUInt16));
        mae::testing::TiffLayout layout;
        layout.tiled = i % 2 == 1;
        layout.planar = i % 3 == 0;
        layout.compression = COMPRESSION_LZW;
        mae::testing::write_tiff(folder + "/" + std::to_string(i) + ".tif", pixels, layout);
        all.push_back(pixels);
        labels.push_back(c);
      }
    }
    mae::io::write_npy(dir_ + "/scenes.npy", torch::stack(all).permute({0, 3, 1, 2}).contiguous());  // [N, C, H, W]
    mae::io::write_npy(dir_ + "/labels.npy", torch::tensor(labels, torch::kInt64));
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Options shared by every command: the data and a tiny 6-channel model.
  std::string common() const {
    return " --threads 2 --set data.source=class_folder --set data.root=" + dir_ + "/scenes" +
           " --set data.train_files= --set data.val_files= --set data.num_workers=2 --set data.eval_resize_ratio=1" +
           " --set model.img_size=16 --set model.patch_size=4 --set model.in_chans=6 --set log.progress=none";
  }
  std::string model() const {
    return " --set model.embed_dim=32 --set model.depth=2 --set model.num_heads=2 --set model.decoder_embed_dim=16"
           " --set model.decoder_depth=1 --set model.decoder_num_heads=2";
  }
  mae::testing::CommandResult mae(const std::string& args) const {
    return mae::testing::run_command(std::string(MAE_BINARY) + " " + args);
  }

  std::string dir_;
};

}  // namespace

TEST_F(MultibandCli, StatsPretrainProbeAndVisualizeOnSixteenBitBands) {
  const auto stats = mae("stats" + common() + " --max-samples 8");
  ASSERT_EQ(stats.code, 0) << stats.output;
  // Six values each, of pixel / 65535: the bands fill about 0..12000 (+4000).
  ASSERT_NE(stats.output.find("mean: ["), std::string::npos) << stats.output;
  const std::string mean_line = stats.output.substr(stats.output.find("mean: ["));
  EXPECT_EQ(std::count(mean_line.begin(), mean_line.begin() + mean_line.find(']'), ','), kBands - 1) << stats.output;

  const std::string norm = " --set data.mean=0.1,0.1,0.1,0.1,0.1,0.1 --set data.std=0.05,0.05,0.05,0.05,0.05,0.05";
  const auto pre = mae("pretrain" + common() + model() + norm + " --set train.epochs=1 --set train.batch_size=8" +
                       " --set visualize.num_images=2 --set visualize.channels=3,2,1 --set train.output_dir=" + dir_ + "/pre");
  ASSERT_EQ(pre.code, 0) << pre.output;
  EXPECT_TRUE(fs::exists(dir_ + "/pre/reconstructions/epoch-0001.png"));

  const auto probe = mae("linprobe --init " + dir_ + "/pre/checkpoint-last.safetensors" + common() + norm +
                         " --set train.epochs=1 --set train.batch_size=8 --set optim.lr=5 --set train.output_dir=" + dir_ +
                         "/probe");
  ASSERT_EQ(probe.code, 0) << probe.output;
  EXPECT_TRUE(fs::exists(dir_ + "/probe/checkpoint-last.safetensors"));
  const auto finetune = mae("finetune --init " + dir_ + "/pre/checkpoint-last.safetensors" + common() + norm +
                            " --set train.epochs=1 --set train.batch_size=8 --set train.output_dir=" + dir_ + "/ft");
  ASSERT_EQ(finetune.code, 0) << finetune.output;

  for (const std::string& channels : {"3,2,1", ""}) {  // composite, then one grey row per band
    const auto vis = mae("visualize " + dir_ + "/pre/checkpoint-last.safetensors --num-images 2 --output " + dir_ +
                         "/vis" + channels + " --set visualize.channels=" + channels);
    ASSERT_EQ(vis.code, 0) << vis.output;
    EXPECT_TRUE(fs::exists(dir_ + "/vis" + channels + "/reconstruction.png"));
  }
  const auto bad = mae("visualize " + dir_ + "/pre/checkpoint-last.safetensors --set visualize.channels=7,2,1");
  EXPECT_EQ(bad.code, 2) << bad.output;
}

TEST_F(MultibandCli, MemoryMappedNpyTrainsAndAMismatchNamesBothCounts) {
  const std::string npy = " --threads 2 --set data.source=npy --set data.root=" + dir_ +
                          " --set data.train_files=scenes.npy,labels.npy --set data.val_files=scenes.npy,labels.npy"
                          " --set data.num_workers=2 --set model.img_size=16 --set model.patch_size=4 --set log.progress=none";
  const std::string norm = " --set data.mean=0.1,0.1,0.1,0.1,0.1,0.1 --set data.std=0.05,0.05,0.05,0.05,0.05,0.05";
  const auto pre = mae("pretrain" + npy + model() + norm + " --set model.in_chans=6 --set train.epochs=1" +
                       " --set train.batch_size=8 --set visualize.num_images=2 --set train.output_dir=" + dir_ + "/npy");
  ASSERT_EQ(pre.code, 0) << pre.output;

  const auto wrong = mae("pretrain" + npy + model() + " --set model.in_chans=3 --set data.mean=0.1,0.1,0.1" +
                         " --set data.std=0.05,0.05,0.05 --set train.epochs=1 --set train.batch_size=8" +
                         " --set train.output_dir=" + dir_ + "/wrong");
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.output.find("6 channel(s)"), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("takes 3"), std::string::npos) << wrong.output;
}
