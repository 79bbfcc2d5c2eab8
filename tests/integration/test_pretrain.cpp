// `mae pretrain` end to end through the library: the loss falls, a resumed run equals an
// uninterrupted one bit for bit, accumulation equals a larger batch, non-finite steps are skipped
// and rolled back, and visualize writes pictures of the right size.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/data/factory.h"
#include "mae/weights/key_schemes.h"
#include "mae/io/safetensors.h"
#include "mae/optim/schedule.h"
#include "mae/tasks/visualize.h"
#include "mae/tasks/model_facts.h"
#include "pretrain_fixture.h"

using namespace mae;
using mae::testing::PretrainFixture;

namespace {

io::SafetensorsFile last_weights(const std::string& run_dir) {
  return io::read_safetensors(train::last_checkpoint_stem(run_dir) + ".safetensors");
}

// PNG width and height from the IHDR chunk.
std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[24] = {0};
  in.read(reinterpret_cast<char*>(header), 24);
  auto be32 = [&](int at) { return (uint32_t{header[at]} << 24) | (header[at + 1] << 16) | (header[at + 2] << 8) | header[at + 3]; };
  return {be32(16), be32(20)};
}

}  // namespace

TEST_F(PretrainFixture, LossFallsAndRunFolderIsComplete) {
  auto c = config("run", {"train.epochs=4"});
  auto result = tasks::run_pretrain(c, torch::kCPU, {});
  EXPECT_EQ(result.epochs_completed, 4);
  EXPECT_EQ(result.steps, 4 * 8);  // 128 images / 16
  EXPECT_LT(result.last_epoch_loss, 0.7 * result.first_loss) << "loss " << result.first_loss << " -> " << result.last_epoch_loss;
  const std::string run = dir_ + "/run";
  for (const char* f : {"config.yaml", "metrics.jsonl", "checkpoint-0004.safetensors", "checkpoint-0004.state.safetensors",
                        "checkpoint-last.safetensors", "reconstructions/epoch-0004.png"}) {
    EXPECT_TRUE(std::filesystem::exists(run + "/" + f)) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(run + "/checkpoint-0001.safetensors")) << "keep_last 3 prunes epoch 1";
  bool tensorboard = false;
  for (const auto& e : std::filesystem::directory_iterator(run)) tensorboard |= e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  EXPECT_TRUE(tensorboard);
  // Logged lr equals the schedule's closed form at the logged (fractional) epoch.
  std::ifstream metrics(run + "/metrics.jsonl");
  std::string line;
  int checked = 0;
  const optim::LrSchedule schedule{2e-3, 0, 0, 4};
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("lr")) continue;
    // The lr of a step is set at its first micro-step: one step before the logged position.
    const double epoch = j["epoch"].get<double>() - 1.0 / 8;
    EXPECT_NEAR(j["lr"].get<double>(), schedule.at(epoch), 1e-12) << line;
    EXPECT_GT(j["img_per_s"].get<double>(), 0) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 16);  // every 2 steps
  // The checkpoint carries the model's shape facts and loads into the official names.
  const auto stored = tasks::read_facts(run + "/checkpoint-last.safetensors");
  ASSERT_TRUE(stored.facts);
  EXPECT_EQ(stored.facts->kind, tasks::ModelKind::kMae);
  EXPECT_EQ(stored.facts->patch_size, 4);
  EXPECT_EQ(stored.facts->in_chans, 1);
  EXPECT_EQ(stored.facts->norm_pix_loss, false);
  EXPECT_EQ(stored.facts->mean, std::vector<double>{0.2});
  EXPECT_EQ(stored.facts->mask_ratio, 0.75) << "numbers stored exactly";
  EXPECT_NE(stored.config_yaml.find("name: \"mae_vit_32d2b2h_patch4_dec16d1b2h\""), std::string::npos) << stored.config_yaml;
  EXPECT_TRUE(last_weights(run).tensors.count("decoder_pred.weight"));
}

TEST_F(PretrainFixture, ResumedRunEqualsUninterruptedBitForBit) {
  tasks::run_pretrain(config("straight", {"train.epochs=3"}), torch::kCPU, {});
  // Interrupted in the middle of epoch 2 (after epoch 1's checkpoint), then resumed twice.
  auto interrupted = tasks::run_pretrain(config("resumed", {"train.epochs=3", "train.max_steps=11"}), torch::kCPU, {});
  EXPECT_TRUE(interrupted.stopped_early);
  EXPECT_EQ(interrupted.epochs_completed, 1);
  {  // the stop writes its last window (step 11, between the log.every=2 records)
    bool logged = false;
    std::ifstream metrics(dir_ + "/resumed/metrics.jsonl");
    for (std::string line; std::getline(metrics, line);) {
      const auto record = nlohmann::json::parse(line);
      logged = logged || (record.value("step", 0) == 11 && record.contains("loss"));
    }
    EXPECT_TRUE(logged);
    EXPECT_GT(interrupted.last_loss, 0.0);
  }
  auto resumed = tasks::run_pretrain(config("resumed", {"train.epochs=3"}), torch::kCPU, {"auto", ""});
  EXPECT_EQ(resumed.epochs_completed, 3);
  EXPECT_EQ(resumed.steps, 24);
  auto a = last_weights(dir_ + "/straight"), b = last_weights(dir_ + "/resumed");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(torch::equal(t, b.tensors.at(name))) << name << " differs after resume";
  auto sa = io::read_safetensors(train::last_checkpoint_stem(dir_ + "/straight") + ".state.safetensors");
  auto sb = io::read_safetensors(train::last_checkpoint_stem(dir_ + "/resumed") + ".state.safetensors");
  for (const auto& [name, t] : sa.tensors) EXPECT_TRUE(torch::equal(t, sb.tensors.at(name))) << name;
}

TEST_F(PretrainFixture, AccumulationOfTwoEqualsDoubleBatch) {
  auto weights_after = [&](const std::string& name, int batch, int accum) {
    tasks::run_pretrain(config(name, {"train.epochs=1", "train.batch_size=" + std::to_string(batch),
                                      "train.accum_iter=" + std::to_string(accum), "visualize.num_images=0"}),
                        torch::kCPU, {});
    return last_weights(dir_ + "/" + name);
  };
  auto big = weights_after("big", 32, 1), accum = weights_after("accum", 16, 2), small = weights_after("small", 16, 1);
  // Adam turns float rounding of near-zero gradients into sign flips of single updates, so the
  // comparison is over all weights at once (Frobenius norm) rather than element by element.
  double accum_diff = 0, small_diff = 0;
  for (const auto& [name, t] : big.tensors) {
    accum_diff += (accum.tensors.at(name) - t).pow(2).sum().item<double>();
    small_diff += (small.tensors.at(name) - t).pow(2).sum().item<double>();
  }
  accum_diff = std::sqrt(accum_diff), small_diff = std::sqrt(small_diff);
  EXPECT_LT(accum_diff, 0.02 * small_diff) << "accumulated 2 x 16 differs from 32 by " << accum_diff
                                            << " (16 without accumulation: " << small_diff << ")";
}

namespace {

// Wraps the pretraining task and returns NaN for the micro-steps in [first, first + count).
class NanTask : public tasks::PretrainTask {
 public:
  NanTask(const tasks::PretrainOptions& c, int64_t first, int64_t count) : PretrainTask(c, torch::kCPU), first_(first), count_(count) {}
  torch::Tensor loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) override {
    auto l = PretrainTask::loss(batch, epoch, scalars);
    const int64_t call = calls_++;
    return call >= first_ && call < first_ + count_ ? l * std::numeric_limits<float>::quiet_NaN() : l;
  }

 private:
  int64_t first_, count_, calls_ = 0;
};

}  // namespace

TEST_F(PretrainFixture, NonFiniteStepsAreSkippedCountedAndRolledBack) {
  auto c = config("nan_stop", {"train.nonfinite_patience=3", "visualize.num_images=0"});
  auto loader = data::make_loader(c.data, data::Split::kTrain, 1, 16, 16, [] {
    data::LoaderOptions lo;
    lo.batch_size = 16;
    lo.num_workers = 1;
    return lo;
  }());
  {  // Two NaN steps: skipped and counted; training completes.
    NanTask task(c, 10, 2);
    train::Trainer trainer(c.trainer, task, *loader, torch::kCPU);
    ::testing::internal::CaptureStderr();
    auto result = trainer.fit();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(result.skipped_steps, 2);
    EXPECT_EQ(result.epochs_completed, 2);
    EXPECT_NE(log.find("step 11: non-finite loss; step skipped"), std::string::npos) << log;
  }
  {  // Three in a row in epoch 2: the epoch-1 checkpoint is restored and the run stops.
    auto c2 = config("nan_stop2", {"train.nonfinite_patience=3", "visualize.num_images=0"});
    NanTask task(c2, 9, 3);
    train::Trainer trainer(c2.trainer, task, *loader, torch::kCPU);
    ::testing::internal::CaptureStderr();
    try {
      trainer.fit();
      FAIL() << "three non-finite steps in a row must stop the run";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("3 non-finite steps in a row"), std::string::npos) << e.what();
    }
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(trainer.state().epoch, 1) << "restored to the end of epoch 1";
    auto saved = last_weights(dir_ + "/nan_stop2");
    for (const auto& kv : task.model().named_parameters()) {
      EXPECT_TRUE(torch::equal(kv.value(), saved.tensors.at(kv.key()))) << kv.key() << " not restored";
    }
  }
  {  // With "continue", training resumes from the checkpoint with half the lr and finishes.
    auto c3 = config("nan_continue", {"train.nonfinite_patience=2", "train.nonfinite_action=continue", "visualize.num_images=0"});
    NanTask task(c3, 3, 2);
    train::Trainer trainer(c3.trainer, task, *loader, torch::kCPU);
    ::testing::internal::CaptureStderr();
    auto result = trainer.fit();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(result.epochs_completed, 2);
    EXPECT_EQ(result.skipped_steps, 2);
    EXPECT_EQ(trainer.state().lr_factor, 0.5);
    EXPECT_NE(log.find("lr scaled by 0.5"), std::string::npos) << log;
    for (const auto& kv : task.model().named_parameters()) EXPECT_TRUE(kv.value().isfinite().all().item<bool>()) << kv.key();
  }
}

TEST_F(PretrainFixture, InterruptedCheckpointWriteKeepsPreviousCheckpoint) {
  tasks::run_pretrain(config("run", {"train.epochs=1", "visualize.num_images=0"}), torch::kCPU, {});
  const std::string stem = train::last_checkpoint_stem(dir_ + "/run");
  // A crash while writing leaves a temporary file beside the checkpoint; nothing else changes.
  std::ofstream(stem + ".safetensors.tmp-12345") << "half a checkpoint";
  EXPECT_EQ(train::find_latest_checkpoint(dir_ + "/run"), train::checkpoint_stem(dir_ + "/run", 1));
  auto resumed = tasks::run_pretrain(config("run", {"train.epochs=2", "visualize.num_images=0"}), torch::kCPU, {"auto", ""});
  EXPECT_EQ(resumed.epochs_completed, 2);
}

TEST_F(PretrainFixture, VisualizeWritesPicturesAndReusesMasks) {
  tasks::run_pretrain(config("run", {"train.epochs=1", "model.norm_pix_loss=true"}), torch::kCPU, {});
  const std::string ckpt = dir_ + "/run/checkpoint-last.safetensors";
  tasks::VisualizeRequest request;
  request.checkpoint = ckpt;
  request.output_dir = dir_ + "/vis";
  request.indices = {3, 0, 7};
  request.mask_seed = 9;
  const auto options = config::resolve_visualize(ckpt, {});
  auto first = tasks::run_visualize(options, request, torch::kCPU);
  EXPECT_TRUE(first.used_patch_statistics);
  const auto [w, h] = png_size(first.png);
  // 16-pixel images drawn 6x larger (96 pixels), with the column captions above and a note below.
  EXPECT_EQ(w, 4u * 96 + 5 * 2);
  EXPECT_GT(h, 3u * 96 + 4 * 2 + 13);
  ASSERT_EQ(first.masked_patch_loss.size(), 3u);
  // Same seed -> same losses; the written masks reproduce them exactly.
  request.output_dir = dir_ + "/vis2";
  EXPECT_EQ(tasks::run_visualize(options, request, torch::kCPU).masked_patch_loss, first.masked_patch_loss);
  // The written masks give the same masked patches, but the kept ones enter the encoder in index
  // order rather than in the order of the first run's noise: attention then sums over its keys in
  // another order, so the losses agree to rounding, not bit for bit.
  request.mask_seed = 10;
  request.mask_file = first.json;
  request.output_dir = dir_ + "/vis3";
  const auto from_file = tasks::run_visualize(options, request, torch::kCPU).masked_patch_loss;
  ASSERT_EQ(from_file.size(), first.masked_patch_loss.size());
  for (size_t i = 0; i < from_file.size(); ++i) EXPECT_NEAR(from_file[i], first.masked_patch_loss[i], 1e-5 * first.masked_patch_loss[i]);
  auto masks = tasks::read_mask_file(first.json);
  ASSERT_EQ(masks.size(), 3u);
  EXPECT_EQ(masks[0].size(), 12u);  // 16 patches, 75 % removed
  std::ofstream(dir_ + "/bad_mask.txt") << "1 2 x\n";
  EXPECT_THROW(tasks::read_mask_file(dir_ + "/bad_mask.txt"), UsageError);
}

TEST_F(PretrainFixture, InitFromEncoderOnlyWeightsKeepsFreshDecoder) {
  tasks::run_pretrain(config("source", {"train.epochs=1", "visualize.num_images=0"}), torch::kCPU, {});
  // An encoder-only file under EasyCV's names, as users bring from other tools.
  auto full = last_weights(dir_ + "/source");
  io::NamedTensors all(full.tensors.begin(), full.tensors.end());
  auto encoder = weights::select_encoder(all);
  io::write_safetensors(dir_ + "/encoder.safetensors", weights::to_scheme(encoder, weights::Scheme::kEasyCV), {});
  // Stop before the first step: checkpoint-last then holds the initial weights.
  tasks::PretrainRequest request;
  request.init = dir_ + "/encoder.safetensors";
  tasks::run_pretrain(config("init", {"train.epochs=1", "train.max_steps=1", "visualize.num_images=0", "train.seed=5"}),
                      torch::kCPU, request);
  auto init = last_weights(dir_ + "/init");
  for (const auto& [name, t] : encoder) EXPECT_TRUE(torch::equal(init.tensors.at(name), t)) << name;
  EXPECT_FALSE(torch::equal(init.tensors.at("decoder_embed.weight"), full.tensors.at("decoder_embed.weight")));
  // A file of another model is refused with the report.
  io::write_safetensors(dir_ + "/other.safetensors", {{"blocks.0.attn.qkv.weight", torch::zeros({3, 3})}}, {});
  request.init = dir_ + "/other.safetensors";
  EXPECT_THROW(tasks::run_pretrain(config("init2", {"train.epochs=1"}), torch::kCPU, request), Error);
}

// 13 epochs of 8 steps (104 optimizer steps, the loss logged every 2) in fp32 and under autocast:
// the loss curves agree to a few per cent, yet are not the same curve (without autocast the run
// would repeat fp32 bit for bit). Returns the autocast run's result.
class Autocast : public PretrainFixture {
 protected:
  train::TrainResult expect_tracks_fp32(const std::string& precision);
};

train::TrainResult Autocast::expect_tracks_fp32(const std::string& precision) {
  auto& f = *this;
  auto fp32 = tasks::run_pretrain(f.config("fp32", {"train.epochs=13", "visualize.num_images=0"}), torch::kCPU, {});
  auto low = tasks::run_pretrain(
      f.config(precision, {"train.epochs=13", "visualize.num_images=0", "train.precision=" + precision}), torch::kCPU, {});
  EXPECT_EQ(low.steps, 104);
  EXPECT_EQ(low.skipped_steps, 0);
  EXPECT_LT(low.last_epoch_loss, 0.7 * low.first_loss);
  // The loss of each logged step (a window of fp16 overflow steps alone logs nothing).
  auto losses = [&](const std::string& run) {
    std::map<int64_t, double> out;
    std::ifstream in(f.dir_ + "/" + run + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line);
      if (record.contains("loss")) out[record["step"].get<int64_t>()] = record["loss"].get<double>();
    }
    return out;
  };
  const auto a = losses("fp32"), b = losses(precision);
  EXPECT_GE(b.size(), 45u);
  double worst = 0, mean = 0;
  for (const auto& [step, loss] : b) {
    const double rel = std::abs(loss - a.at(step)) / a.at(step);
    worst = std::max(worst, rel);
    mean += rel / static_cast<double>(b.size());
  }
  std::cout << precision << " vs fp32 loss: worst relative gap " << worst << ", mean " << mean << "\n";
  EXPECT_LT(worst, 0.05) << "largest relative gap between the " << precision << " and fp32 loss curves";
  EXPECT_LT(mean, 0.02) << "mean relative gap between the " << precision << " and fp32 loss curves";
  EXPECT_GT(worst, 1e-5) << "the " << precision << " loss curve equals the fp32 one: autocast did not run";
  EXPECT_NEAR(low.last_epoch_loss, fp32.last_epoch_loss, 0.03 * fp32.last_epoch_loss);
  // The weights stay fp32 (autocast only lowers the matmuls).
  EXPECT_EQ(last_weights(f.dir_ + "/" + precision).tensors.at("blocks.0.attn.qkv.weight").scalar_type(), torch::kFloat32);
  return low;
}

TEST_F(Autocast, Bf16OnCpuTracksFp32Loss) {
  // Measured: about 5e-4 worst, 1e-4 mean relative gap.
  expect_tracks_fp32("bf16");
}

TEST_F(Autocast, Fp16WithLossScalingOnCpuTracksFp32Loss) {
  const auto fp16 = expect_tracks_fp32("fp16");
  std::cout << "fp16: " << fp16.overflow_steps << " overflow step(s) skipped by the loss scaler\n";
  // The scale is logged, and it is where 2^16 halved once per overflow leaves it (no growth within
  // 104 steps: the interval is 2000).
  std::ifstream in(dir_ + "/fp16/metrics.jsonl");
  double last_scale = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("loss_scale")) last_scale = record["loss_scale"].get<double>();
  }
  EXPECT_EQ(last_scale, std::ldexp(1.0, 16 - static_cast<int>(fp16.overflow_steps)));
}
