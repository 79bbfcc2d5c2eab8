// Runs that survive preemption: checkpoints inside an epoch, exact resume from them, stop signals
// that save and exit with the requeue code, and checkpoint writes that fail without losing the
// previous checkpoint.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/checkpoint_compare.h"
#include "common/run_command.h"
#include "common/spawn.h"
#include "mae/core/stop_signal.h"
#include "mae/io/safetensors.h"
#include "mae/tasks/classify.h"
#include "mae/train/checkpoint.h"
#include "pretrain_fixture.h"
#include "wds_fixture.h"

using namespace mae;
using mae::testing::expect_bitwise_equal;
using mae::testing::PretrainFixture;

namespace {

io::SafetensorsFile read(const std::string& path) { return io::read_safetensors(path); }

// The epochs' mean losses in a run's metrics.jsonl, in the order written.
std::vector<double> epoch_losses(const std::string& run) {
  std::vector<double> losses;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("epoch_loss")) losses.push_back(j.at("epoch_loss").get<double>());
  }
  return losses;
}

train::TrainState state_of(const std::string& run) {
  const auto j = nlohmann::json::parse(read(run + "/checkpoint-last.state.safetensors").metadata.at("train_state"));
  train::TrainState s;
  s.epoch = j.at("epoch"), s.iteration = j.at("iteration"), s.batches_done = j.value("batches_done", int64_t{0});
  return s;
}

}  // namespace

class Resume : public PretrainFixture {
 protected:
  // Stopped at step 5 of 8 in epoch 1 with checkpoint-last refreshed every 3 steps (3 is the
  // newest), resumed: the same weights and optimizer state as an uninterrupted run, to the bit.
  void expect_resume_inside_an_epoch_is_bitwise_equal(const std::vector<std::string>& extra) {
    auto with = [&](std::vector<std::string> sets) {
      sets.insert(sets.end(), extra.begin(), extra.end());
      return sets;
    };
    tasks::run_pretrain(config("straight", with({"train.epochs=2", "visualize.num_images=0"})), torch::kCPU, {});
    auto first = tasks::run_pretrain(
        config("resumed", with({"train.epochs=2", "visualize.num_images=0", "train.save_every_steps=3", "train.max_steps=5"})),
        torch::kCPU, {});
    EXPECT_TRUE(first.stopped_early);
    const auto saved = state_of(dir_ + "/resumed");
    EXPECT_EQ(saved.epoch, 0);
    EXPECT_EQ(saved.iteration, 3);
    EXPECT_EQ(saved.batches_done, 3);
    auto second = tasks::run_pretrain(config("resumed", with({"train.epochs=2", "visualize.num_images=0"})), torch::kCPU, {"auto", ""});
    EXPECT_EQ(second.steps, 16);
    expect_bitwise_equal(dir_ + "/straight/checkpoint-last.safetensors", dir_ + "/resumed/checkpoint-last.safetensors");
    expect_bitwise_equal(dir_ + "/straight/checkpoint-last.state.safetensors", dir_ + "/resumed/checkpoint-last.state.safetensors");
    // The resumed epoch's mean loss counts its steps before the checkpoint too.
    EXPECT_EQ(epoch_losses(dir_ + "/straight"), epoch_losses(dir_ + "/resumed"));
  }
};

TEST_F(Resume, InsideAnEpochIsBitwiseEqual) { expect_resume_inside_an_epoch_is_bitwise_equal({}); }

// The same from WebDataset shards: each loader stream re-reads its share of the first batches.
TEST_F(Resume, InsideAnEpochIsBitwiseEqualFromShards) {
  ASSERT_GE(mae::testing::pack_class_folders(dir_).shards.shards.size(), 4u);
  expect_resume_inside_an_epoch_is_bitwise_equal(mae::testing::wds_settings(dir_));
}

// fp16: the loss scale and its growth count come back with the checkpoint.
TEST_F(Resume, InsideAnEpochIsBitwiseEqualUnderFp16LossScaling) {
  expect_resume_inside_an_epoch_is_bitwise_equal({"train.precision=fp16"});
  auto train_state = [&](const std::string& run) {
    return nlohmann::json::parse(read(dir_ + "/" + run + "/checkpoint-last.state.safetensors").metadata.at("train_state"));
  };
  const auto straight = train_state("straight"), resumed = train_state("resumed");
  EXPECT_EQ(resumed.at("loss_scale"), straight.at("loss_scale"));
  EXPECT_EQ(resumed.at("loss_scale_growth_tracker"), straight.at("loss_scale_growth_tracker"));
}

TEST_F(PretrainFixture, FinetuneResumeInsideAnEpochKeepsTheDropPathStream) {
  auto classify = [&](const std::string& name, std::vector<std::string> extra) {
    config::UserSettings user;
    user.sets = {"data.source=idx", "data.root=" + dir_ + "/data", "data.train_files=images.idx,labels.idx",
                 "data.val_files=images.idx,labels.idx", "data.num_workers=2", "data.mean=0.2", "data.std=0.3",
                 "model.img_size=16", "model.name=vit_32d2b2h_patch4", "model.in_chans=1", "model.drop_path=0.3", "train.precision=fp32",
                 "train.batch_size=16", "train.epochs=2", "train.warmup_epochs=0", "optim.lr=2e-3", "log.progress=none",
                 "train.output_dir=" + dir_ + "/" + name};
    user.sets.insert(user.sets.end(), extra.begin(), extra.end());
    return config::resolve_classify(false, user);
  };
  tasks::run_classify(classify("straight", {}), torch::kCPU, {});
  tasks::run_classify(classify("resumed", {"train.save_every_steps=2", "train.max_steps=11"}), torch::kCPU, {});
  EXPECT_EQ(state_of(dir_ + "/resumed").batches_done, 2) << "step 10 = epoch 2, batch 2";
  tasks::run_classify(classify("resumed", {}), torch::kCPU, {"auto"});
  expect_bitwise_equal(dir_ + "/straight/checkpoint-last.safetensors", dir_ + "/resumed/checkpoint-last.safetensors");
}

TEST_F(PretrainFixture, StopSignalSavesAndExitsWithTheRequeueCode) {
  // A long run, stopped by SIGTERM once it trains; it must save where it is and exit 75.
  const auto options = config("signal", {"train.epochs=50", "visualize.num_images=0", "data.num_workers=1"});
  std::ofstream(dir_ + "/signal.yaml") << options.config_yaml;
  const pid_t pid = mae::testing::spawn({"pretrain", "--config", dir_ + "/signal.yaml", "--threads", "1"}, {}, dir_ + "/signal.log");
  const std::string last = dir_ + "/signal/checkpoint-0001.safetensors";
  for (int i = 0; i < 600 && !std::filesystem::exists(last); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(last)) << "no epoch finished";
  ::kill(pid, SIGTERM);
  EXPECT_EQ(mae::testing::wait_exit(pid, 60), core::kExitInterrupted);
  std::ifstream log(dir_ + "/signal.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("SIGTERM"), std::string::npos) << text;
  EXPECT_NE(text.find("--resume auto"), std::string::npos) << text;
  const auto saved = state_of(dir_ + "/signal");
  EXPECT_GE(saved.iteration, 8);
  EXPECT_LT(saved.epoch, 50);
  // --resume auto continues from the saved step (a numbered checkpoint of the same step when the
  // signal met an epoch's end: same content, and ties prefer it).
  const auto latest = train::find_latest_checkpoint(dir_ + "/signal");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(nlohmann::json::parse(read(*latest + ".state.safetensors").metadata.at("train_state")).at("iteration"),
            saved.iteration);
}

TEST_F(PretrainFixture, AFailedCheckpointWriteKeepsThePreviousOne) {
  const std::string run = dir_ + "/full";
  tasks::run_pretrain(config("full", {"train.epochs=1", "visualize.num_images=0"}), torch::kCPU, {});
  const auto before = read(run + "/checkpoint-last.safetensors");
  // A file size limit smaller than a checkpoint: the write fails with EFBIG (mae ignores SIGXFSZ).
  const auto options = config("full", {"train.epochs=2", "visualize.num_images=0"});
  std::ofstream(dir_ + "/full.yaml") << options.config_yaml;
  const auto r = mae::testing::run_command("bash -c 'ulimit -f 64; exec " + std::string(MAE_BINARY) + " pretrain --config " +
                                           dir_ + "/full.yaml --resume auto --threads 1'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("checkpoint"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
  for (const auto& entry : std::filesystem::directory_iterator(run)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();
  }
  expect_bitwise_equal(run + "/checkpoint-last.safetensors", run + "/checkpoint-0001.safetensors");
  EXPECT_TRUE(torch::equal(read(run + "/checkpoint-last.safetensors").tensors.at("cls_token"), before.tensors.at("cls_token")));
  // train.on_save_error=warn trains on, and saves once it can again.
  const auto warn = mae::testing::run_command("bash -c 'ulimit -f 64; exec " + std::string(MAE_BINARY) + " pretrain --config " +
                                              dir_ + "/full.yaml --resume auto --threads 1 --set train.on_save_error=warn'");
  EXPECT_EQ(warn.code, 0) << warn.output;
  EXPECT_NE(warn.output.find("checkpoint not written"), std::string::npos) << warn.output;
}

// A run folder the run may not write to (a read-only mount, a permission change): a clear error
// naming the folder, exit 1, and the checkpoints in it untouched. Root writes anywhere, so as root
// the run goes through a user namespace in which it is an ordinary user.
TEST_F(PretrainFixture, AReadOnlyRunFolderStopsTheRunAndKeepsItsCheckpoints) {
  const std::string run = dir_ + "/readonly";
  tasks::run_pretrain(config("readonly", {"train.epochs=1", "visualize.num_images=0"}), torch::kCPU, {});
  const auto options = config("readonly", {"train.epochs=2", "visualize.num_images=0"});
  std::ofstream(dir_ + "/readonly.yaml") << options.config_yaml;
  std::string as_user;
  if (::geteuid() == 0) {
    as_user = "unshare --user --map-user=1000 --map-group=1000 ";
    if (mae::testing::run_command(as_user + "true").code != 0) GTEST_SKIP() << "running as root without user namespaces";
  }
  std::filesystem::permissions(run, std::filesystem::perms::owner_write | std::filesystem::perms::group_write |
                                        std::filesystem::perms::others_write, std::filesystem::perm_options::remove);
  const auto r = mae::testing::run_command(as_user + MAE_BINARY + " pretrain --config " + dir_ +
                                           "/readonly.yaml --resume auto --threads 1");
  std::filesystem::permissions(run, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(run), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Permission denied"), std::string::npos) << r.output;
  for (const auto& entry : std::filesystem::directory_iterator(run)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();
  }
  expect_bitwise_equal(run + "/checkpoint-last.safetensors", run + "/checkpoint-0001.safetensors");
  EXPECT_EQ(state_of(run).epoch, 1);
}

TEST_F(PretrainFixture, ResumeAutoPassesOverADamagedNewestCheckpoint) {
  const std::string run = dir_ + "/damaged";
  tasks::run_pretrain(config("damaged", {"train.epochs=2", "visualize.num_images=0", "train.keep_last=0"}), torch::kCPU, {});
  // One flipped bit in the data of the two newest (epoch 2: numbered and last); headers intact.
  for (const char* name : {"/checkpoint-0002.safetensors", "/checkpoint-last.state.safetensors"}) {
    std::fstream f(run + name, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-16, std::ios::end);
    char byte = 0;
    f.read(&byte, 1);
    f.seekp(-16, std::ios::end);
    byte ^= 1;
    f.write(&byte, 1);
  }
  EXPECT_THROW(io::read_safetensors(run + "/checkpoint-0002.safetensors"), Error) << "the checksum must catch one bit";
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  auto resumed = tasks::run_pretrain(config("damaged", {"train.epochs=3", "visualize.num_images=0"}), torch::kCPU, {"auto", ""});
  const std::string log = ::testing::internal::GetCapturedStderr() + ::testing::internal::GetCapturedStdout();
  EXPECT_NE(log.find("skipping checkpoint " + run + "/checkpoint-0002"), std::string::npos) << log;
  EXPECT_NE(log.find("does not match its checksum"), std::string::npos) << log;
  EXPECT_NE(log.find("resumed from " + run + "/checkpoint-0001"), std::string::npos) << log;
  EXPECT_EQ(resumed.epochs_completed, 3);
  EXPECT_EQ(resumed.steps, 24);
}
