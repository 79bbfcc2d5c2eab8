// Reconstruction pictures: a given mask is reproduced exactly; display-space panels are consistent.
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/eval/reconstruction.h"

using namespace mae;

static models::MaeViTOptions tiny(bool norm_pix) {
  models::MaeViTOptions o;
  o.img_h = 16, o.img_w = 24, o.patch_size = 4, o.in_chans = 3;  // L = 4 x 6 = 24
  o.embed_dim = 16, o.depth = 1, o.num_heads = 2, o.decoder_embed_dim = 8, o.decoder_depth = 1, o.decoder_num_heads = 2;
  o.norm_pix_loss = norm_pix;
  return o;
}

TEST(Reconstruction, GivenMaskIsReproducedExactly) {
  for (int masked_count : {1, 7, 18, 23}) {
    std::vector<int64_t> masked;
    for (int i = 0; i < masked_count; ++i) masked.push_back((i * 5 + 3) % 24);
    double ratio = 0;
    auto noise = eval::noise_for_mask(masked, 24, &ratio).unsqueeze(0);
    models::MaskedAutoencoderViT model(tiny(false));
    auto m = model->random_masking(torch::randn({1, 24, 16}), ratio, noise);
    auto expected = torch::zeros({1, 24});
    for (auto i : masked) expected[0][i] = 1;
    EXPECT_TRUE(torch::equal(m.mask, expected)) << masked_count << " masked";
  }
  double ratio;
  EXPECT_THROW(eval::noise_for_mask({24}, 24, &ratio), UsageError);
  EXPECT_THROW(eval::noise_for_mask({3, 3}, 24, &ratio), UsageError);
}

TEST(Reconstruction, PanelsAndGridAreConsistent) {
  torch::manual_seed(0);
  for (bool norm_pix : {false, true}) {
    models::MaskedAutoencoderViT model(tiny(norm_pix));
    auto imgs = torch::randn({2, 3, 16, 24});
    auto r = eval::reconstruct(model, imgs, 0.75, {}, {0.5, 0.4, 0.3}, {0.2, 0.25, 0.3});
    EXPECT_EQ(r.used_patch_statistics, norm_pix);
    EXPECT_EQ(r.masked_patch_loss.sizes(), (std::vector<int64_t>{2}));
    EXPECT_TRUE(torch::allclose(r.masked_patch_loss.mean(), model->forward(imgs, 0.75, r.mask.argsort(int64_t{1}).argsort(int64_t{1}).to(torch::kFloat32) / 24.0).loss.detach(), 1e-4, 1e-5));
    // Visible patches: masked == pasted == original; removed ones: masked == 0, pasted == prediction.
    auto pixel_mask = model->unpatchify(r.mask.unsqueeze(-1).expand({-1, -1, 48}));
    EXPECT_TRUE(torch::equal(r.pasted * (1 - pixel_mask), r.original * (1 - pixel_mask)));
    EXPECT_TRUE(torch::equal(r.masked * pixel_mask, torch::zeros_like(r.masked)));
    EXPECT_TRUE(torch::allclose(r.pasted * pixel_mask, r.prediction * pixel_mask));
    auto grid = eval::reconstruction_grid(r);
    EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{2 * 16 + 3 * 2, 4 * 24 + 5 * 2, 3}));
  }
}
