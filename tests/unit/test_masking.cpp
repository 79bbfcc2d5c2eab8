// patchify / unpatchify and random_masking of MaskedAutoencoderViT.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/models/block.h"
#include "mae/models/mae_vit.h"

using namespace mae::models;

static MaeViTOptions tiny(int64_t h, int64_t w, int64_t p, int64_t c) {
  MaeViTOptions o;
  o.img_h = h, o.img_w = w, o.patch_size = p, o.in_chans = c;
  o.embed_dim = 16, o.depth = 1, o.num_heads = 2;
  o.decoder_embed_dim = 8, o.decoder_depth = 1, o.decoder_num_heads = 2;
  return o;
}

TEST(Patchify, RoundTripsNonSquareAndGrey) {
  torch::manual_seed(0);
  for (auto [h, w, p, c] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{32, 48, 8, 3}, {28, 28, 4, 1}, {16, 16, 16, 2}}) {
    MaskedAutoencoderViT model(tiny(h, w, p, c));
    auto imgs = torch::randn({2, c, h, w});
    auto x = model->patchify(imgs);
    EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, (h / p) * (w / p), p * p * c}));
    EXPECT_TRUE(torch::equal(model->unpatchify(x), imgs));
  }
}

TEST(Patchify, OrdersValuesRowColumnChannelInsidePatch) {
  MaskedAutoencoderViT model(tiny(4, 4, 2, 3));
  auto imgs = torch::arange(48, torch::kFloat32).reshape({1, 3, 4, 4});
  auto x = model->patchify(imgs);
  // Patch 1 is the top-right 2x2 block: rows 0-1, columns 2-3; values run (row, col, channel).
  auto expected = torch::empty({12});
  int i = 0;
  for (int r = 0; r < 2; ++r)
    for (int q = 2; q < 4; ++q)
      for (int c = 0; c < 3; ++c) expected[i++] = imgs[0][c][r][q];
  EXPECT_TRUE(torch::equal(x[0][1], expected));
}

TEST(RandomMasking, KeepsExactCountAndIsConsistent) {
  torch::manual_seed(1);
  MaskedAutoencoderViT model(tiny(32, 32, 4, 3));  // L = 64
  const int64_t n = 3, l = 64, d = 5;
  auto x = torch::randn({n, l, d});
  for (double ratio : {0.0, 0.5, 0.75, 0.9}) {
    auto m = model->random_masking(x, ratio);
    const auto keep = static_cast<int64_t>(l * (1.0 - ratio));
    EXPECT_EQ(m.x_masked.size(1), keep);
    EXPECT_TRUE(torch::equal(m.mask.sum(1), torch::full({n}, static_cast<float>(l - keep))));
    // The kept tokens are exactly the rows of x where mask == 0, in noise order.
    for (int64_t i = 0; i < n; ++i) {
      auto kept_rows = x[i].index({m.mask[i] == 0});
      auto sorted = [](torch::Tensor t) { return std::get<0>(t.sum(1).sort()); };
      EXPECT_TRUE(torch::allclose(sorted(kept_rows), sorted(m.x_masked[i])));
    }
    // ids_restore is a permutation.
    EXPECT_TRUE(torch::equal(std::get<0>(m.ids_restore.sort(1)), torch::arange(l).expand({n, l})));
  }
}

TEST(RandomMasking, SameNoiseGivesSameMaskAndSmallestNoiseIsKept) {
  MaskedAutoencoderViT model(tiny(16, 16, 4, 3));  // L = 16, keep 4
  auto x = torch::randn({2, 16, 8});
  auto noise = torch::rand({2, 16});
  auto a = model->random_masking(x, 0.75, noise);
  auto b = model->random_masking(x, 0.75, noise);
  EXPECT_TRUE(torch::equal(a.mask, b.mask));
  EXPECT_TRUE(torch::equal(a.x_masked, b.x_masked));
  auto smallest = std::get<1>(noise.topk(4, 1, /*largest=*/false));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(a.mask[i][smallest[i][k].item<int64_t>()].item<float>(), 0.0f);
}

TEST(RandomMasking, RejectsBadRatioAndNoiseShape) {
  MaskedAutoencoderViT model(tiny(16, 16, 4, 3));
  auto x = torch::randn({2, 16, 8});
  EXPECT_THROW(model->random_masking(x, 1.0), mae::UsageError);
  EXPECT_THROW(model->random_masking(x, -0.1), mae::UsageError);
  EXPECT_THROW(model->random_masking(x, 0.99), mae::UsageError);  // keeps int(0.16) = 0 patches
  EXPECT_THROW(model->random_masking(x, 0.75, torch::rand({2, 15})), mae::Error);
}

// The decoder's input is written in place over the mask token; the official code builds it with
// cat + gather + cat. Same values and the same gradients (float64), with and without ids_keep.
TEST(ForwardDecoder, InPlaceInputEqualsTheOfficialCatAndGather) {
  torch::manual_seed(4);
  MaskedAutoencoderViT model(tiny(16, 24, 4, 2));  // L = 24
  model->to(torch::kFloat64);
  auto imgs = torch::randn({3, 2, 16, 24}, torch::kFloat64);
  auto m = model->forward_encoder(imgs, 0.75);
  const auto latent = m.x_masked.detach().requires_grad_(true);

  auto official = [&] {
    auto x = model->decoder_embed->forward(latent);
    const int64_t n = x.size(0), l = m.ids_restore.size(1), dd = x.size(2);
    auto x_ = torch::cat({x.narrow(1, 1, x.size(1) - 1), model->mask_token.expand({n, l + 1 - x.size(1), dd})}, 1);
    x_ = torch::gather(x_, 1, m.ids_restore.unsqueeze(-1).expand({n, l, dd}));
    x = torch::cat({x.narrow(1, 0, 1), x_}, 1) + model->decoder_pos_embed;
    for (const auto& blk : *model->decoder_blocks) x = blk->as<Block>()->forward(x);
    return model->decoder_pred->forward(model->decoder_norm->forward(x)).narrow(1, 1, l);
  };
  auto grads = [&](const torch::Tensor& pred) {
    model->zero_grad();
    latent.mutable_grad() = torch::Tensor();
    (pred * torch::linspace(-1, 1, pred.numel(), torch::kFloat64).view(pred.sizes())).sum().backward();
    return std::make_pair(latent.grad().clone(), model->mask_token.grad().clone());
  };
  const auto expected = official();
  const auto [latent_grad, token_grad] = grads(expected);
  for (bool with_keep : {true, false}) {
    const auto pred = model->forward_decoder(latent, m.ids_restore, with_keep ? m.ids_keep : torch::Tensor());
    EXPECT_TRUE(torch::allclose(pred, expected, 0, 1e-12)) << with_keep;
    const auto [lg, tg] = grads(pred);
    EXPECT_TRUE(torch::allclose(lg, latent_grad, 0, 1e-12)) << with_keep;
    EXPECT_TRUE(torch::allclose(tg, token_grad, 0, 1e-12)) << with_keep;
    EXPECT_GT(tg.abs().sum().item<double>(), 0);
  }
}
