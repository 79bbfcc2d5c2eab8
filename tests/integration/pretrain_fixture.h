// A tiny pretraining setup shared by the integration tests: synthetic IDX data in a temp folder
// and a config for a 16x16 grey MAE that trains in seconds.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/synthetic_idx.h"
#include "mae/core/runtime.h"
#include "mae/config/settings.h"
#include "mae/tasks/pretrain.h"

namespace mae::testing {

class PretrainFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_it_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/data");
    write_synthetic_idx(dir_ + "/data", 128, 16, 4);
    core::configure_threads(2);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // The settings of a run in <dir>/<name> as --set lines; `sets` come last.
  config::UserSettings settings(const std::string& name, const std::vector<std::string>& sets = {}) {
    config::UserSettings user;
    user.sets = {"data.source=idx", "data.root=" + dir_ + "/data", "data.train_files=images.idx,labels.idx",
                                 "data.val_files=images.idx,labels.idx", "data.num_workers=2", "data.crop_scale=0.6,1.0",
                                 "data.mean=0.2", "data.std=0.3",
                                 "model.img_size=16", "model.patch_size=4", "model.in_chans=1", "model.embed_dim=32",
                                 "model.depth=2", "model.num_heads=2", "model.decoder_embed_dim=16", "model.decoder_depth=1",
                                 "model.decoder_num_heads=2", "model.norm_pix_loss=false", "train.batch_size=16",
                                 "train.epochs=2", "train.warmup_epochs=0", "optim.lr=2e-3", "log.progress=none",
                                 "log.every=2", "visualize.num_images=4", "train.precision=fp32", "knn.every=0", "train.output_dir=" + dir_ + "/" + name};
    user.sets.insert(user.sets.end(), sets.begin(), sets.end());
    return user;
  }
  // The resolved options of that run.
  tasks::PretrainOptions config(const std::string& name, const std::vector<std::string>& sets = {}) {
    return config::resolve_pretrain(settings(name, sets));
  }
  std::string dir_;
};

}  // namespace mae::testing
