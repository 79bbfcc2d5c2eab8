// `mae visualize` on weights that `mae pretrain` did not write: the official .pth layout
// ({'model': state_dict}, as mae_visualize_vit_large.pth), the same weights under official names in
// safetensors and under HuggingFace ViTMAE names (tests/fixtures/interop, made by
// tests/python/make_interop_fixtures.py), with the model from --set and images from --input.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/run_command.h"
#include "mae/config/settings.h"
#include "mae/core/error.h"
#include "mae/io/png_writer.h"
#include "mae/tasks/visualize.h"

namespace {
namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(MAE_FIXTURE_DIR) + "/interop/" + name; }

// The fixtures' model (make_interop_fixtures.py: TINY, TINY_DECODER) and 3-channel data.
const std::vector<std::string> kTinyModel = {
    "model.img_size=32",          "model.patch_size=8",        "model.in_chans=3",           "model.embed_dim=32",
    "model.depth=2",              "model.num_heads=4",         "model.decoder_embed_dim=16", "model.decoder_depth=1",
    "model.decoder_num_heads=2",  "model.norm_pix_loss=true",  "data.mean=0.5,0.5,0.5",      "data.std=0.25,0.25,0.25"};

class VisualizeWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_vis_weights_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/images");
    auto gen = at::detail::createCPUGenerator(3);
    for (int i = 0; i < 3; ++i) {
      mae::io::write_png(dir_ + "/images/" + std::to_string(i) + ".png", torch::randint(0, 256, {32, 32, 3}, gen).to(torch::kUInt8));
    }
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::vector<double> losses(const std::string& weights, const std::string& out) {
    mae::tasks::VisualizeRequest request;
    request.checkpoint = weights;
    request.inputs = {dir_ + "/images"};
    request.output_dir = dir_ + "/" + out;
    request.mask_seed = 5;
    return mae::tasks::run_visualize(mae::config::resolve_visualize(weights, {"", kTinyModel}), request, torch::kCPU)
        .masked_patch_loss;
  }
  std::string dir_;
};

TEST_F(VisualizeWeights, OfficialPthSafetensorsAndHuggingFaceDrawTheSameReconstructions) {
  const auto pth = losses(fixture("mae_tiny.pth"), "pth");
  ASSERT_EQ(pth.size(), 3u);
  EXPECT_TRUE(fs::exists(dir_ + "/pth/reconstruction.png"));
  const auto official = losses(fixture("mae_tiny_official.safetensors"), "official");
  const auto hf = losses(fixture("mae_tiny_hf.safetensors"), "hf");
  for (size_t i = 0; i < pth.size(); ++i) {
    EXPECT_NEAR(official[i], pth[i], 1e-5 * std::abs(pth[i])) << i;
    EXPECT_NEAR(hf[i], pth[i], 1e-4 * std::abs(pth[i])) << i;
  }
}

TEST_F(VisualizeWeights, CommandTakesAnyWeightsAndSaysWhatIsMissing) {
  std::string sets;
  for (const auto& s : kTinyModel) sets += " --set " + s;
  const std::string mae = std::string(MAE_BINARY) + " visualize ";
  // Single image files and a folder, mixed.
  auto r = mae::testing::run_command(mae + fixture("mae_tiny.pth") + sets + " --input " + dir_ + "/images/0.png --input " + dir_ +
                                     "/images --output " + dir_ + "/cli");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_ + "/cli/reconstruction.png"));
  // Without the model's sizes the built-in default model does not fit the file: the error says what to set.
  auto wrong = mae::testing::run_command(mae + fixture("mae_tiny.pth") + " --input " + dir_ + "/images --output " + dir_ + "/x");
  EXPECT_EQ(wrong.code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("--set model.name="), std::string::npos) << wrong.output;
}

}  // namespace
