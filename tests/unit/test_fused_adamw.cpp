// The fused AdamW kernel and LibTorch's per-parameter AdamW loop are twins: same weights and
// state after several steps, with two groups of different lr and weight decay, a parameter
// without gradient, and a state handed from one to the other (as a checkpoint does).
#include <gtest/gtest.h>

#include "mae/optim/fused_adamw.h"
#include "mae/optim/param_groups.h"

using namespace mae::optim;

namespace {

std::vector<torch::Tensor> make_params() {
  torch::manual_seed(3);
  return {torch::randn({17, 9}), torch::randn({9}), torch::randn({4, 3, 2}), torch::randn({5})};
}

std::vector<ParamGroup> groups_of(std::vector<torch::Tensor>& p) {
  for (auto& t : p) t.set_requires_grad(true);
  ParamGroup decay, no_decay;
  decay.params = {p[0], p[2]};
  decay.weight_decay = 0.05;
  decay.lr_scale = 1.0;
  no_decay.params = {p[1], p[3]};
  no_decay.weight_decay = 0.0;
  no_decay.lr_scale = 0.3;
  return {decay, no_decay};
}

// Gradients for step k, identical for both optimizers; p[3] gets none on odd steps.
void set_grads(std::vector<torch::Tensor>& p, int k) {
  torch::manual_seed(100 + k);
  for (size_t i = 0; i < p.size(); ++i) {
    p[i].mutable_grad() = (i == 3 && k % 2 == 1) ? torch::Tensor() : torch::randn_like(p[i]) * (1.0 + static_cast<double>(i));
  }
}

}  // namespace

TEST(FusedAdamW, MatchesThePerParameterLoop) {
  auto pa = make_params(), pb = make_params();
  auto ga = groups_of(pa), gb = groups_of(pb);
  auto fused = make_adamw(ga, 0.9, 0.95, 1e-8, /*fused=*/true);
  auto plain = make_adamw(gb, 0.9, 0.95, 1e-8, /*fused=*/false);
  ASSERT_NE(dynamic_cast<FusedAdamW*>(fused.get()), nullptr);
  ASSERT_EQ(dynamic_cast<FusedAdamW*>(plain.get()), nullptr);
  for (int k = 0; k < 6; ++k) {
    set_lr(*fused, ga, 1e-2 * (k + 1));
    set_lr(*plain, gb, 1e-2 * (k + 1));
    set_grads(pa, k);
    set_grads(pb, k);
    fused->step();
    plain->step();
  }
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-6, 1e-7)) << "parameter " << i << " max diff "
                                                           << (pa[i] - pb[i]).abs().max().item<double>();
    const auto& sa = static_cast<torch::optim::AdamWParamState&>(*fused->state().at(optimizer_state_key(pa[i])));
    const auto& sb = static_cast<torch::optim::AdamWParamState&>(*plain->state().at(optimizer_state_key(pb[i])));
    EXPECT_EQ(sa.step(), sb.step()) << i;
    EXPECT_TRUE(torch::allclose(sa.exp_avg(), sb.exp_avg(), 1e-6, 1e-8)) << i;
    EXPECT_TRUE(torch::allclose(sa.exp_avg_sq(), sb.exp_avg_sq(), 1e-6, 1e-10)) << i;
  }
  EXPECT_EQ(static_cast<torch::optim::AdamWParamState&>(*fused->state().at(optimizer_state_key(pa[3]))).step(), 3);
}

TEST(FusedAdamW, ContinuesFromAStateTheLoopWrote) {
  // Resuming a checkpoint written by either kind: the fused step counters follow the loaded steps.
  auto pa = make_params(), pb = make_params();
  auto ga = groups_of(pa), gb = groups_of(pb);
  auto plain_a = make_adamw(ga, 0.9, 0.999, 1e-8, false);
  auto plain_b = make_adamw(gb, 0.9, 0.999, 1e-8, false);
  for (int k = 0; k < 3; ++k) {
    set_lr(*plain_a, ga, 1e-2);
    set_lr(*plain_b, gb, 1e-2);
    set_grads(pa, k);
    set_grads(pb, k);
    plain_a->step();
    plain_b->step();
  }
  auto fused = make_adamw(ga, 0.9, 0.999, 1e-8, true);
  for (auto& p : pa) fused->state()[optimizer_state_key(p)] = plain_a->state().at(optimizer_state_key(p))->clone();
  for (int k = 3; k < 6; ++k) {
    set_lr(*fused, ga, 1e-2);
    set_lr(*plain_b, gb, 1e-2);
    set_grads(pa, k);
    set_grads(pb, k);
    fused->step();
    plain_b->step();
  }
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-6, 1e-7)) << "parameter " << i;
  }
}
