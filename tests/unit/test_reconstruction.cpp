// Reconstruction pictures: a given mask is reproduced exactly; display-space panels are consistent.
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/eval/picture.h"
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
    // 16 x 24 tiles are enlarged 6x (to 96 x 144), under a 13-pixel caption band.
    auto grid = eval::reconstruction_grid(r);
    const int64_t header = eval::text_height() + 6;
    ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{header + 2 * 96 + 3 * 2, 4 * 144 + 5 * 2, 3}));
    auto first = (r.original[0] * 255.0).round().to(torch::kUInt8).permute({1, 2, 0});
    EXPECT_TRUE(torch::equal(grid.narrow(0, header + 2, 96).narrow(1, 2, 144), eval::upscale_nearest(first, 6)));
    for (int64_t k = 0; k < 4; ++k) {  // every column has a caption: dark pixels above its tiles
      EXPECT_GT((grid.narrow(0, 0, header).narrow(1, 2 + k * 146, 144) < 128).sum().item<int64_t>(), 20) << "column " << k;
    }
    const std::string note = "a note long enough to need several lines of text below the pictures";
    auto noted = eval::reconstruction_grid(r, note, 1);
    const auto lines = static_cast<int64_t>(eval::wrap_text(note, noted.size(1) - 4).size());
    EXPECT_GE(lines, 2);
    EXPECT_EQ(noted.size(0), header + 2 * 16 + 3 * 2 + lines * (eval::text_height() + 2) + 2);
    EXPECT_GT((noted.narrow(0, noted.size(0) - 9, 9) < 128).sum().item<int64_t>(), 20);
  }
}

TEST(Picture, TextIsDrawnInTheBuiltInFont) {
  auto image = torch::full({9, 20, 1}, 255, torch::kUInt8);
  eval::draw_text(image, 1, 1, "Il");  // 'l' is drawn as 'L'
  // 'I': a bar on top and bottom and a stem in the middle column.
  auto pixel = [&](int64_t y, int64_t x) { return image[y][x][0].item<int>(); };
  for (int64_t x = 2; x <= 4; ++x) EXPECT_EQ(pixel(1, x), 0);
  EXPECT_EQ(pixel(1, 1), 255);
  for (int64_t y = 1; y <= 7; ++y) EXPECT_EQ(pixel(y, 3), 0);
  // 'L' starts 6 pixels later: a left stem and a bottom bar.
  for (int64_t y = 1; y <= 7; ++y) EXPECT_EQ(pixel(y, 7), 0);
  for (int64_t x = 7; x <= 11; ++x) EXPECT_EQ(pixel(7, x), 0);
  EXPECT_EQ(pixel(1, 8), 255);
  EXPECT_EQ((image == 0).sum().item<int64_t>(), 11 + 11);  // nothing else is inked
  EXPECT_EQ(eval::text_width("Il"), 11);
  EXPECT_EQ(eval::text_width("Il", 2), 22);
  // Scaled text and clipping at the border.
  auto big = torch::full({10, 10, 3}, 255, torch::kUInt8);
  eval::draw_text(big, 6, 0, "#", 2);
  EXPECT_GT((big == 0).sum().item<int64_t>(), 0);
  EXPECT_EQ(eval::wrap_text("one two three", eval::text_width("one two"), 1), (std::vector<std::string>{"one two", "three"}));
  EXPECT_EQ(eval::upscale_factor(28, 96), 4);
  EXPECT_EQ(eval::upscale_factor(224, 96), 1);
}
