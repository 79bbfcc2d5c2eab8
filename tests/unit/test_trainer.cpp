// The Trainer driven by a few tensors through data::BatchSource: steps, accumulation, the schedule,
// the non-finite guard and checkpoints, without a dataset or a ViT.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "mae/core/runtime.h"
#include "mae/train/trainer.h"
#include "test_data_files.h"

using namespace mae;

namespace {

// Fixed batches of y = x . w_true; `nan_batch` (in every epoch) gets NaN inputs.
class FewBatches : public data::BatchSource {
 public:
  FewBatches(int64_t count, int64_t nan_batch = -1) : nan_batch_(nan_batch) {
    torch::manual_seed(3);
    const auto w_true = torch::tensor({1.0f, -2.0f, 0.5f, 3.0f});
    for (int64_t i = 0; i < count; ++i) {
      auto x = torch::randn({8, 4});
      batches_.push_back({x, (x * w_true).sum(1), torch::arange(i * 8, i * 8 + 8)});
    }
  }
  void set_epoch(int64_t epoch, int64_t first_batch) override { next_ = first_batch, ++epochs_started; }
  bool next(data::Batch* out) override {
    if (next_ >= static_cast<int64_t>(batches_.size())) return false;
    *out = batches_[next_];
    if (next_ == nan_batch_) out->images = out->images * std::numeric_limits<float>::quiet_NaN();
    ++next_;
    return true;
  }
  int64_t batches_per_epoch() const override { return static_cast<int64_t>(batches_.size()); }
  int64_t dataset_size() const override { return 8 * batches_per_epoch(); }
  int epochs_started = 0;

 private:
  std::vector<data::Batch> batches_;
  int64_t next_ = 0, nan_batch_;
};

// A linear regression: labels hold the float targets.
class LinearTask : public train::Task {
 public:
  LinearTask() { torch::manual_seed(0), linear_ = torch::nn::Linear(4, 1); }
  torch::nn::Module& model() override { return *linear_; }
  torch::Tensor loss(const data::Batch& b, int64_t epoch, train::Scalars* scalars) override {
    ++losses;
    return torch::mse_loss(linear_->forward(b.images).squeeze(1), b.labels);
  }
  std::vector<optim::ParamGroup> param_groups(double weight_decay) override {
    optim::ParamGroup g{"all", {}, {}, 0.0, 1.0};
    for (const auto& kv : linear_->named_parameters()) g.names.push_back(kv.key()), g.params.push_back(kv.value());
    return {g};
  }
  std::map<std::string, std::string> checkpoint_metadata() override { return {{"task", "linear"}}; }
  int64_t losses = 0;

 private:
  torch::nn::Linear linear_{nullptr};
};

train::TrainerOptions options(const std::string& dir, int64_t epochs) {
  train::TrainerOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.lr = 0.2;
  o.weight_decay = 0;
  o.run_dir = dir;
  o.progress = "none";
  o.log_every = 1;
  o.tensorboard = false;
  return o;
}

}  // namespace

TEST(Trainer, StepsAccumulationAndCheckpointsOverABatchSource) {
  core::configure_threads(1);
  mae::testing::TempDir dir;
  FewBatches batches(6);
  LinearTask task;
  auto total_loss = [&] {
    torch::NoGradGuard no_grad;
    double sum = 0;
    data::Batch b;
    batches.set_epoch(0, 0);
    while (batches.next(&b)) sum += task.loss(b, 0, nullptr).item<double>();
    return sum;
  };
  const double before = total_loss();
  train::Trainer trainer(options(dir.path(), 3), task, batches, torch::kCPU);
  const auto result = trainer.fit();
  const double after = total_loss();
  batches.epochs_started -= 2, task.losses -= 12;  // the two measurements
  EXPECT_EQ(batches.epochs_started, 3);
  EXPECT_EQ(task.losses, 18);
  EXPECT_EQ(result.steps, 18);
  EXPECT_EQ(result.epochs_completed, 3);
  EXPECT_LT(after, 0.5 * before) << "the regression must learn";
  EXPECT_TRUE(std::filesystem::exists(dir.file("checkpoint-0003.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("checkpoint-last.state.safetensors")));

  mae::testing::TempDir accumulated_dir;
  auto o = options(accumulated_dir.path(), 3);
  o.accum_iter = 3;
  LinearTask accumulated;
  train::Trainer accumulating(o, accumulated, batches, torch::kCPU);
  const auto r = accumulating.fit();
  EXPECT_EQ(accumulated.losses, 18) << "every micro-batch is a forward";
  EXPECT_EQ(r.steps, 6) << "one optimizer step per 3 micro-batches";
}

TEST(Trainer, ANonFiniteStepIsSkippedAndCounted) {
  core::configure_threads(1);
  mae::testing::TempDir dir;
  FewBatches batches(4, /*nan_batch=*/2);
  LinearTask task;
  auto o = options(dir.path(), 2);
  o.nonfinite_patience = 3;
  train::Trainer trainer(o, task, batches, torch::kCPU);
  ::testing::internal::CaptureStderr();
  const auto result = trainer.fit();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(result.skipped_steps, 2) << "one per epoch";
  EXPECT_EQ(result.steps, 8);
  EXPECT_NE(log.find("step 3: non-finite loss; step skipped"), std::string::npos) << log;
  for (const auto& p : task.model().parameters()) EXPECT_TRUE(p.isfinite().all().item<bool>());
}

TEST(Trainer, MaxStepsStopsInsideAnEpoch) {
  core::configure_threads(1);
  mae::testing::TempDir dir;
  FewBatches batches(6);
  LinearTask task;
  auto o = options(dir.path(), 4);
  o.max_steps = 8;
  train::Trainer trainer(o, task, batches, torch::kCPU);
  const auto result = trainer.fit();
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.steps, 8);
  EXPECT_EQ(result.epochs_completed, 1);
}
