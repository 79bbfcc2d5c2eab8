// LARS against steps computed by hand, and its momentum surviving a checkpoint round trip.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "mae/train/checkpoint.h"
#include "mae/optim/lars.h"
#include "mae/optim/param_groups.h"

using namespace mae::optim;
using mae::train::save_checkpoint;
using mae::train::load_checkpoint;

namespace {

torch::Tensor param(std::initializer_list<double> values, std::vector<int64_t> shape) {
  return torch::tensor(std::vector<double>(values), torch::kFloat64).reshape(shape).requires_grad_(true);
}

}  // namespace

TEST(Lars, FirstAndSecondStepMatchHandComputation) {
  auto w = param({3, 4}, {1, 2});  // |w| = 5
  auto b = param({1, -1}, {2});
  Lars opt({torch::optim::OptimizerParamGroup({w, b})}, LarsOptions(0.5).weight_decay(0.1).momentum(0.9).trust_coefficient(0.01));
  const std::vector<double> g = {0.6, 0.8};
  auto set_grads = [&] {
    w.mutable_grad() = torch::tensor(g, torch::kFloat64).reshape({1, 2});
    b.mutable_grad() = torch::tensor(std::vector<double>{2, 3}, torch::kFloat64);
  };
  // By hand: u = g + wd * w; q = trust * |w| / |u|; mu = u * q; w -= lr * mu. Biases: plain SGD momentum.
  std::vector<double> wv = {3, 4}, mu = {0, 0}, bv = {1, -1}, bmu = {0, 0};
  for (int step = 0; step < 2; ++step) {
    set_grads();
    opt.step();
    const double u0 = g[0] + 0.1 * wv[0], u1 = g[1] + 0.1 * wv[1];
    const double q = 0.01 * std::hypot(wv[0], wv[1]) / std::hypot(u0, u1);
    mu = {0.9 * mu[0] + q * u0, 0.9 * mu[1] + q * u1};
    wv = {wv[0] - 0.5 * mu[0], wv[1] - 0.5 * mu[1]};
    bmu = {0.9 * bmu[0] + 2, 0.9 * bmu[1] + 3};
    bv = {bv[0] - 0.5 * bmu[0], bv[1] - 0.5 * bmu[1]};
    EXPECT_NEAR(w[0][0].item<double>(), wv[0], 1e-14) << "step " << step;
    EXPECT_NEAR(w[0][1].item<double>(), wv[1], 1e-14) << "step " << step;
    EXPECT_NEAR(b[0].item<double>(), bv[0], 1e-14) << "step " << step;
    EXPECT_NEAR(b[1].item<double>(), bv[1], 1e-14) << "step " << step;
  }
}

TEST(Lars, ZeroNormsLeaveTheUpdateUnscaled) {
  auto w = param({0, 0}, {1, 2});
  Lars opt({torch::optim::OptimizerParamGroup({w})}, LarsOptions(1.0));
  w.mutable_grad() = torch::tensor(std::vector<double>{1, 2}, torch::kFloat64).reshape({1, 2});
  opt.step();  // |w| = 0: q = 1
  EXPECT_DOUBLE_EQ(w[0][1].item<double>(), -2.0);
}

TEST(Lars, MomentumSurvivesCheckpointRoundTrip) {
  const std::string dir = ::testing::TempDir() + "mae_lars_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto run = [&](bool interrupt) {
    torch::manual_seed(0);
    torch::nn::Linear model(4, 3);
    auto groups = weight_decay_groups(*model, 0.0, {});
    auto opt = make_lars(groups);
    set_lr(*opt, groups, 0.1);
    const auto x = torch::randn({8, 4}), y = torch::randint(0, 3, {8});
    for (int i = 0; i < 4; ++i) {
      if (interrupt && i == 2) {
        save_checkpoint(dir + "/ck", *model, {}, opt.get(), &groups, nullptr);
        torch::nn::Linear fresh(4, 3);
        auto fresh_groups = weight_decay_groups(*fresh, 0.0, {});
        auto fresh_opt = make_lars(fresh_groups);
        load_checkpoint(dir + "/ck", *fresh, fresh_opt.get(), &fresh_groups, nullptr);
        model = fresh, groups = fresh_groups, opt = std::move(fresh_opt);
        set_lr(*opt, groups, 0.1);
      }
      opt->zero_grad();
      torch::nn::functional::cross_entropy(model(x), y).backward();
      opt->step();
    }
    return model->weight.clone();
  };
  const auto straight = run(false), resumed = run(true);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(torch::equal(straight, resumed));
}
