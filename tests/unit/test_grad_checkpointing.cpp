// Activation checkpointing is a twin of the plain blocks: the same loss and the same parameter
// gradients for MAE pretraining, for a ViT with drop path (its random draws replayed in the
// recompute) and under bf16 autocast; and a frozen-input block still trains its parameters.
// That it is on at all: the forward records one node instead of the block's graph, and backward
// re-runs every block once.
#include <set>

#include <gtest/gtest.h>

#include "common/named_grads.h"
#include "mae/models/block.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/train/precision.h"

using namespace mae::models;

namespace {

void expect_same_grads(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                       double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, g] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_LE((g - b.at(name)).abs().max().item<double>(), tol * (1 + g.abs().max().item<double>())) << name;
  }
}

MaeViTOptions tiny_mae() {
  MaeViTOptions o;
  o.img_h = o.img_w = 16;
  o.patch_size = 4;
  o.in_chans = 3;
  o.embed_dim = 32;
  o.depth = 3;
  o.num_heads = 4;
  o.decoder_embed_dim = 16;
  o.decoder_depth = 2;
  o.decoder_num_heads = 2;
  o.norm_pix_loss = true;
  return o;
}

// Loss and gradients of one MAE step with a fixed batch and fixed masking noise.
std::pair<double, std::map<std::string, torch::Tensor>> mae_step(bool checkpointing, bool bf16) {
  torch::manual_seed(7);
  MaskedAutoencoderViT model(tiny_mae());
  set_grad_checkpointing(*model, checkpointing);
  const auto imgs = torch::randn({4, 3, 16, 16});
  const auto noise = torch::rand({4, 16});
  torch::Tensor loss;
  {
    mae::train::AutocastGuard autocast(torch::kCPU, bf16 ? mae::train::Precision::kBf16 : mae::train::Precision::kFp32);
    loss = model->forward(imgs, 0.75, noise).loss;
  }
  loss.backward();
  return {loss.item<double>(), mae::testing::named_grads(*model)};
}

// Nodes of the autograd graph behind `t`, i.e. everything its backward visits.
size_t graph_nodes(const torch::Tensor& t) {
  std::vector<torch::autograd::Node*> stack{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node).second) continue;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return seen.size();
}

}  // namespace

TEST(GradCheckpointing, ForwardKeepsNoActivationsAndBackwardRecomputes) {
  struct Counts {
    int64_t after_forward, after_backward;
    size_t graph_nodes;
  };
  auto run = [](bool checkpointing) {
    BlockOptions bo;
    bo.dim = 16;
    bo.num_heads = 2;
    torch::manual_seed(1);
    Block block(bo);
    block->set_grad_checkpointing(checkpointing);
    const auto x = torch::randn({2, 5, 16}).requires_grad_(true);
    const auto y = block->forward(x);
    Counts counts{block->forward_plain_calls(), 0, graph_nodes(y)};
    y.sum().backward();
    counts.after_backward = block->forward_plain_calls();
    return counts;
  };
  const Counts plain = run(false), ckpt = run(true);
  EXPECT_EQ(plain.after_forward, 1);
  EXPECT_EQ(plain.after_backward, 1);
  EXPECT_GT(plain.graph_nodes, 20u);
  EXPECT_EQ(ckpt.after_forward, 1);
  EXPECT_EQ(ckpt.after_backward, 2) << "backward did not re-run the checkpointed block";
  // The checkpoint node and x's gradient accumulator: none of the block's ops (nor the activations
  // they save) were recorded.
  EXPECT_EQ(ckpt.graph_nodes, 2u) << "the plain block recorded " << plain.graph_nodes << " nodes";
}

TEST(GradCheckpointing, EveryMaeBlockIsRecomputedOncePerStep) {
  auto calls_per_block = [](bool checkpointing) {
    torch::manual_seed(7);
    MaskedAutoencoderViT model(tiny_mae());
    set_grad_checkpointing(*model, checkpointing);
    model->forward(torch::randn({4, 3, 16, 16}), 0.75, torch::rand({4, 16})).loss.backward();
    std::vector<int64_t> calls;
    for (const auto& m : model->modules()) {
      if (const auto* block = m->as<Block>()) calls.push_back(block->forward_plain_calls());
    }
    return calls;
  };
  EXPECT_EQ(calls_per_block(false), std::vector<int64_t>(5, 1));  // 3 encoder + 2 decoder blocks
  EXPECT_EQ(calls_per_block(true), std::vector<int64_t>(5, 2));
}

TEST(GradCheckpointing, MaeStepMatchesPlainBlocks) {
  const auto [plain_loss, plain] = mae_step(false, false);
  const auto [ckpt_loss, ckpt] = mae_step(true, false);
  EXPECT_DOUBLE_EQ(plain_loss, ckpt_loss);
  expect_same_grads(plain, ckpt, 1e-6);
  EXPECT_GT(plain.size(), 30u);
}

TEST(GradCheckpointing, MatchesUnderBf16Autocast) {
  const auto [plain_loss, plain] = mae_step(false, true);
  const auto [ckpt_loss, ckpt] = mae_step(true, true);
  EXPECT_DOUBLE_EQ(plain_loss, ckpt_loss);  // the recompute runs in bf16 too, or the gradients would drift
  expect_same_grads(plain, ckpt, 1e-5);
}

TEST(GradCheckpointing, Bf16RecomputeLeavesNoStaleWeightCasts) {
  // Two bf16 steps with an update between: the second forward must see the updated weights, not
  // bf16 copies cached by the first step's recompute.
  auto second_loss = [](bool checkpointing) {
    torch::manual_seed(7);
    MaskedAutoencoderViT model(tiny_mae());
    set_grad_checkpointing(*model, checkpointing);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.5));
    const auto imgs = torch::randn({4, 3, 16, 16});
    const auto noise = torch::rand({4, 16});
    double loss_value = 0;
    for (int step = 0; step < 2; ++step) {
      torch::Tensor loss;
      {
        mae::train::AutocastGuard autocast(torch::kCPU, mae::train::Precision::kBf16);
        loss = model->forward(imgs, 0.75, noise).loss;
      }
      loss.backward();
      sgd.step();
      sgd.zero_grad();
      loss_value = loss.item<double>();
    }
    return loss_value;
  };
  EXPECT_DOUBLE_EQ(second_loss(true), second_loss(false));
}

TEST(GradCheckpointing, DropPathDrawsAreReplayed) {
  auto run = [](bool checkpointing) {
    VisionTransformerOptions o;
    o.img_h = o.img_w = 16;
    o.patch_size = 4;
    o.in_chans = 3;
    o.embed_dim = 32;
    o.depth = 4;
    o.num_heads = 4;
    o.num_classes = 5;
    o.drop_path_rate = 0.5;
    torch::manual_seed(11);
    VisionTransformer model(o);
    model->train();
    set_grad_checkpointing(*model, checkpointing);
    const auto x = torch::randn({6, 3, 16, 16});
    torch::manual_seed(12);
    auto loss = model->forward(x).pow(2).mean();
    loss.backward();
    const double after = torch::rand({1}).item<double>();  // the generator continues where the forward left it
    return std::make_tuple(loss.item<double>(), mae::testing::named_grads(*model), after);
  };
  const auto [plain_loss, plain, plain_next] = run(false);
  const auto [ckpt_loss, ckpt, ckpt_next] = run(true);
  EXPECT_DOUBLE_EQ(plain_loss, ckpt_loss);
  expect_same_grads(plain, ckpt, 1e-6);
  EXPECT_DOUBLE_EQ(plain_next, ckpt_next);
}

TEST(GradCheckpointing, ABlockAfterFrozenOnesStillTrains) {
  BlockOptions bo;
  bo.dim = 16;
  bo.num_heads = 2;
  torch::manual_seed(1);
  Block block(bo);
  block->set_grad_checkpointing(true);
  const auto x = torch::randn({2, 5, 16});  // no grad: the output of frozen blocks
  block->forward(x).sum().backward();
  for (const auto& p : block->parameters()) EXPECT_TRUE(p.grad().defined());
}
