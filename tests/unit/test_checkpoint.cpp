// Checkpoints: weights, optimizer state and position round-trip exactly; corrupt or truncated
// files are passed over by name; metadata and discovery read headers only; pruning keeps the newest.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/safetensors_files.h"
#include "mae/core/error.h"
#include "mae/models/mae_vit.h"
#include "mae/train/checkpoint.h"

using namespace mae::train;
using namespace mae::optim;
namespace fs = std::filesystem;

namespace {

mae::models::MaeViTOptions tiny() {
  mae::models::MaeViTOptions o;
  o.img_h = o.img_w = 16, o.patch_size = 8, o.embed_dim = 16, o.depth = 1, o.num_heads = 2;
  o.decoder_embed_dim = 8, o.decoder_depth = 1, o.decoder_num_heads = 2;
  return o;
}

struct TinyRun {
  mae::models::MaskedAutoencoderViT model{tiny()};
  std::vector<ParamGroup> groups = weight_decay_groups(*model, 0.05, {});
  std::unique_ptr<torch::optim::AdamW> opt = make_adamw(groups, 0.9, 0.95);
  void train_steps(int n) {
    set_lr(*opt, groups, 1e-3);
    for (int i = 0; i < n; ++i) {
      model->forward(torch::randn({2, 3, 16, 16})).loss.backward();
      opt->step();
      opt->zero_grad();
    }
  }
};

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_ckpt_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

}  // namespace

TEST_F(CheckpointTest, RoundTripRestoresWeightsOptimizerAndPosition) {
  torch::manual_seed(0);
  TinyRun a;
  a.train_steps(3);
  TrainState state{4, 123, 2, 0.5};
  save_checkpoint(checkpoint_stem(dir_, 4), *a.model, {{"note", "x"}}, a.opt.get(), &a.groups, &state);

  torch::manual_seed(1);
  TinyRun b;
  b.train_steps(1);  // b has optimizer state of its own, as after a rollback
  const void* weight_memory = b.model->named_parameters()["blocks.0.attn.qkv.weight"].data_ptr();
  const auto& first_state = b.opt->state().at(optimizer_state_key(b.groups[0].params[0]));
  const void* state_memory = static_cast<const torch::optim::AdamWParamState&>(*first_state).exp_avg().data_ptr();
  TrainState restored;
  load_checkpoint(checkpoint_stem(dir_, 4), *b.model, b.opt.get(), &b.groups, &restored);
  // Read in place: the parameters and the optimizer's buffers keep their memory.
  EXPECT_EQ(b.model->named_parameters()["blocks.0.attn.qkv.weight"].data_ptr(), weight_memory);
  const auto& loaded_state = b.opt->state().at(optimizer_state_key(b.groups[0].params[0]));
  EXPECT_EQ(static_cast<const torch::optim::AdamWParamState&>(*loaded_state).exp_avg().data_ptr(), state_memory);
  EXPECT_EQ(restored.epoch, 4);
  EXPECT_EQ(restored.iteration, 123);
  EXPECT_EQ(restored.skipped_steps, 2);
  EXPECT_EQ(restored.lr_factor, 0.5);
  auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  // Same next step from both: the optimizer state came back whole.
  torch::manual_seed(5);
  a.train_steps(1);
  torch::manual_seed(5);
  b.train_steps(1);
  for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  EXPECT_EQ(read_checkpoint_metadata(checkpoint_stem(dir_, 4) + ".safetensors").at("note"), "x");
}

TEST_F(CheckpointTest, LatestSkipsCorruptAndTruncatedFiles) {
  TinyRun a;
  for (int64_t epoch : {1, 2, 3}) {
    TrainState s{epoch, epoch * 10, 0, 1.0};
    save_checkpoint(checkpoint_stem(dir_, epoch), *a.model, {}, a.opt.get(), &a.groups, &s);
  }
  EXPECT_EQ(find_latest_checkpoint(dir_), checkpoint_stem(dir_, 3));
  // Truncate epoch 3's weights and garble epoch 2's state: epoch 1 is the newest valid one.
  fs::resize_file(checkpoint_stem(dir_, 3) + ".safetensors", 100);
  std::ofstream(checkpoint_stem(dir_, 2) + ".state.safetensors", std::ios::trunc) << "garbage";
  testing::internal::CaptureStderr();
  EXPECT_EQ(find_latest_checkpoint(dir_), checkpoint_stem(dir_, 1));
  const std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("checkpoint-0003"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("checkpoint-0002"), std::string::npos) << warnings;
  EXPECT_FALSE(find_latest_checkpoint(dir_ + "/missing").has_value());
}

TEST_F(CheckpointTest, WeightsOfAnotherModelAreRejectedByName) {
  TinyRun a;
  save_checkpoint(checkpoint_stem(dir_, 1), *a.model, {});
  auto other = tiny();
  other.decoder_embed_dim = 12;
  mae::models::MaskedAutoencoderViT b(other);
  try {
    load_checkpoint(checkpoint_stem(dir_, 1), *b, nullptr, nullptr, nullptr);
    FAIL();
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, PruneKeepsNewestNumberedAndLast) {
  TinyRun a;
  for (int64_t epoch = 1; epoch <= 5; ++epoch) {
    TrainState s{epoch, 0, 0, 1.0};
    save_checkpoint(checkpoint_stem(dir_, epoch), *a.model, {}, a.opt.get(), &a.groups, &s);
  }
  save_checkpoint(last_checkpoint_stem(dir_), *a.model, {});
  prune_checkpoints(dir_, 2);
  EXPECT_FALSE(fs::exists(checkpoint_stem(dir_, 3) + ".safetensors"));
  EXPECT_FALSE(fs::exists(checkpoint_stem(dir_, 1) + ".state.safetensors"));
  EXPECT_TRUE(fs::exists(checkpoint_stem(dir_, 4) + ".safetensors"));
  EXPECT_TRUE(fs::exists(checkpoint_stem(dir_, 5) + ".state.safetensors"));
  EXPECT_TRUE(fs::exists(last_checkpoint_stem(dir_) + ".safetensors"));
  EXPECT_EQ(checkpoint_stem_of("a/checkpoint-0004.state.safetensors"), "a/checkpoint-0004");
  EXPECT_EQ(checkpoint_stem_of("a/checkpoint-0004.safetensors"), "a/checkpoint-0004");
}

TEST_F(CheckpointTest, LatestSkipsATruncatedNewestCheckpoint) {
  TinyRun a;
  a.train_steps(1);  // the state file then holds optimizer tensors
  for (int64_t epoch : {1, 2, 3}) {
    TrainState s{epoch, epoch * 10, 0, 1.0};
    save_checkpoint(checkpoint_stem(dir_, epoch), *a.model, {}, a.opt.get(), &a.groups, &s);
  }
  // Cut only data (headers intact): discovery reads headers alone, so it must compare offsets with file sizes.
  auto cut = [](const std::string& path, uintmax_t bytes) { fs::resize_file(path, fs::file_size(path) - bytes); };
  cut(checkpoint_stem(dir_, 3) + ".state.safetensors", 4);
  testing::internal::CaptureStderr();
  EXPECT_EQ(find_latest_checkpoint(dir_), checkpoint_stem(dir_, 2));
  std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("skipping checkpoint " + checkpoint_stem(dir_, 3)), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("truncated"), std::string::npos) << warnings;
  cut(checkpoint_stem(dir_, 2) + ".safetensors", 1);
  testing::internal::CaptureStderr();
  EXPECT_EQ(find_latest_checkpoint(dir_), checkpoint_stem(dir_, 1));
  warnings = testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("skipping checkpoint " + checkpoint_stem(dir_, 2)), std::string::npos) << warnings;
}

TEST_F(CheckpointTest, MetadataAndDiscoveryReadHeadersOnly) {
  // Each file declares 1 TiB of tensor data in a sparse file: reading any tensor would fail or hang.
  const std::string stem = checkpoint_stem(dir_, 7);
  const std::string tensor = R"({"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]})";
  mae::testing::write_sparse_safetensors(
      stem + ".safetensors", R"({"__metadata__":{"epoch":"7","note":"x"},"w":)" + tensor + "}", 1ull << 40);
  mae::testing::write_sparse_safetensors(
      stem + ".state.safetensors", R"({"__metadata__":{"train_state":"{\"epoch\":7}"},"optim.w.exp_avg":)" + tensor + "}",
      1ull << 40);
  EXPECT_EQ(read_checkpoint_metadata(stem + ".safetensors").at("note"), "x");
  EXPECT_EQ(find_latest_checkpoint(dir_), stem);
}

TEST_F(CheckpointTest, AVanishedRunFolderIsNamedAndNothingIsRecreated) {
  TinyRun a;
  const std::string gone = dir_ + "/gone";
  fs::create_directories(gone);
  fs::remove_all(gone);
  try {
    save_checkpoint(checkpoint_stem(gone, 1), *a.model, {}, a.opt.get(), &a.groups, nullptr);
    FAIL() << "saving into a vanished folder must fail";
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find(gone), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(gone));
}
