// The Trainer driven by a few tensors through data::BatchSource: steps, accumulation, the schedule,
// the non-finite guard and checkpoints, without a dataset or a ViT.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/core/runtime.h"
#include "mae/train/trainer.h"
#include "test_data_files.h"

using namespace mae;

namespace {

// Fixed batches of y = x . w_true; `odd_batch` (in every epoch) gets its inputs multiplied by
// `odd_factor` (NaN by default).
class FewBatches : public data::BatchSource {
 public:
  FewBatches(int64_t count, int64_t odd_batch = -1, float odd_factor = std::numeric_limits<float>::quiet_NaN())
      : odd_batch_(odd_batch), odd_factor_(odd_factor) {
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
    if (next_ == odd_batch_) out->images = out->images * odd_factor_;
    ++next_;
    return true;
  }
  int64_t batches_per_epoch() const override { return static_cast<int64_t>(batches_.size()); }
  int64_t dataset_size() const override { return 8 * batches_per_epoch(); }
  int epochs_started = 0;

 private:
  std::vector<data::Batch> batches_;
  int64_t next_ = 0, odd_batch_;
  float odd_factor_;
};

// A linear regression: labels hold the float targets; the loss is weighted by `weight`.
class LinearTask : public train::Task {
 public:
  explicit LinearTask(double weight = 1.0) : weight_(weight) { torch::manual_seed(0), linear_ = torch::nn::Linear(4, 1); }
  torch::nn::Module& model() override { return *linear_; }
  torch::Tensor loss(const data::Batch& b, int64_t epoch, train::Scalars* scalars) override {
    ++losses;
    return weight_ * torch::mse_loss(linear_->forward(b.images).squeeze(1).to(torch::kFloat32), b.labels);
  }
  std::vector<optim::ParamGroup> param_groups(double weight_decay) override {
    optim::ParamGroup g{"all", {}, {}, 0.0, 1.0};
    for (const auto& kv : linear_->named_parameters()) g.names.push_back(kv.key()), g.params.push_back(kv.value());
    return {g};
  }
  std::map<std::string, std::string> checkpoint_metadata() override { return {{"task", "linear"}}; }
  int64_t losses = 0;

 private:
  double weight_;
  torch::nn::Linear linear_{nullptr};
};

train::TrainerOptions options(const std::string& dir, int64_t epochs) {
  train::TrainerOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.lr = 0.2;
  o.weight_decay = 0;
  o.run_dir = dir;
  o.progress = train::ProgressMode::kNone;
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

TEST(LossScaler, FollowsGradScalerSemantics) {
  train::LossScaler scaler;
  train::LossScaleState s;
  EXPECT_EQ(s.scale, 65536.0);
  EXPECT_EQ(scaler.update(s, true), train::LossScaler::Update::kBackedOff);
  EXPECT_EQ(s.scale, 32768.0);
  for (int i = 0; i < 1999; ++i) ASSERT_EQ(scaler.update(s, false), train::LossScaler::Update::kKept);
  EXPECT_EQ(s.growth_tracker, 1999);
  EXPECT_EQ(scaler.update(s, false), train::LossScaler::Update::kGrew);
  EXPECT_EQ(s.scale, 65536.0);
  EXPECT_EQ(s.growth_tracker, 0);
  scaler.update(s, false);
  scaler.update(s, true);
  EXPECT_EQ(s.growth_tracker, 0) << "an overflow restarts the count";
  train::LossScaleState low{1.0, 5};
  EXPECT_EQ(scaler.update(low, true), train::LossScaler::Update::kCollapsed);
  EXPECT_EQ(low.scale, 1.0) << "a collapse leaves the scale where it was";

  auto p = torch::ones({3}, torch::requires_grad());
  train::LossScaler::scale_loss((p * 2).sum(), {1024.0, 0}).backward();
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({3}, 2048.0)));
  train::LossScaler::unscale({p}, {1024.0, 0});
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({3}, 2.0)));
}

// fp16 autocast on the CPU with the loss scaler. Batch 2 of each epoch has inputs 3000x larger:
// its loss is finite in fp32, but its scaled gradients overflow fp16. That step, and only that
// one, is skipped with a halved scale; it is not a non-finite step of the guard.
TEST(Trainer, AnFp16OverflowHalvesTheScaleAndSkipsExactlyThatStep) {
  core::configure_threads(1);
  auto run = [](int64_t max_steps) {
    mae::testing::TempDir dir;
    FewBatches batches(4, /*odd_batch=*/2, /*odd_factor=*/3000.0f);
    LinearTask task(/*weight=*/1e-3);  // the other batches' scaled gradients stay far from fp16's limit
    auto o = options(dir.path(), 1);
    o.precision = train::Precision::kFp16;
    o.max_steps = max_steps;
    train::Trainer trainer(o, task, batches, torch::kCPU);
    const auto result = trainer.fit();
    std::vector<torch::Tensor> weights;
    for (const auto& p : task.model().parameters()) weights.push_back(p.detach().clone());
    return std::make_tuple(result, trainer.state().loss_scale, weights);
  };
  const auto [two, two_scale, two_weights] = run(2);
  const auto [three, three_scale, three_weights] = run(3);
  const auto [four, four_scale, four_weights] = run(4);
  EXPECT_EQ(two.overflow_steps, 0);
  EXPECT_EQ(two_scale.scale, 65536.0);
  EXPECT_EQ(two_scale.growth_tracker, 2);
  EXPECT_EQ(three.overflow_steps, 1);
  EXPECT_EQ(three.skipped_steps, 0) << "an overflow is not a non-finite step";
  EXPECT_EQ(three_scale.scale, 32768.0);
  EXPECT_EQ(three_scale.growth_tracker, 0);
  for (size_t i = 0; i < two_weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(two_weights[i], three_weights[i])) << "the overflow step must not change the weights";
    EXPECT_FALSE(torch::equal(three_weights[i], four_weights[i])) << "the next step trains again";
  }
  EXPECT_EQ(four.overflow_steps, 1);
  EXPECT_EQ(four_scale.scale, 32768.0);
  EXPECT_EQ(four_scale.growth_tracker, 1);
}

// A scale that would fall below its floor is the guard's business: it says so and rolls back.
// The run starts from a checkpoint whose scale is already the floor (1), and batch 1 overflows fp16
// even unscaled (a large loss weight), while its loss is finite in fp32.
TEST(Trainer, AnFp16ScaleThatCollapsesRollsBack) {
  core::configure_threads(1);
  mae::testing::TempDir dir;
  FewBatches batches(4, /*odd_batch=*/1, /*odd_factor=*/3000.0f);
  LinearTask task(/*weight=*/1e3);
  auto o = options(dir.path(), 1);
  o.precision = train::Precision::kFp16;
  train::Trainer trainer(o, task, batches, torch::kCPU);
  train::TrainState at_floor;
  at_floor.loss_scale = {1.0, 0};
  const std::string stem = dir.file("checkpoint-floor");
  train::save_checkpoint(stem, task.model(), {}, &trainer.optimizer(), &trainer.groups(), &at_floor);
  trainer.resume_from(stem);
  ::testing::internal::CaptureStderr();
  std::string message;
  try {
    trainer.fit();
  } catch (const mae::Error& e) {
    message = e.what();
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("step 2: the fp16 loss scale collapsed"), std::string::npos) << log;
  EXPECT_NE(message.find("restored the last good checkpoint"), std::string::npos) << message;
  EXPECT_EQ(trainer.state().iteration, 0) << "rolled back to the checkpoint";
  EXPECT_EQ(trainer.state().loss_scale.scale, 1.0);
}
