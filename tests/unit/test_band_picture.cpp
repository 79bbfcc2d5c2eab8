// Pictures of N-band reconstructions: band selection into RGB or grey, the 2-98 % stretch, and the
// per-band grey rows; photos (1 or 3 channels, no selection) stay exactly as they were.
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/eval/band_picture.h"
#include "mae/eval/picture.h"

namespace {

// Four panels of [N, C, H, W] in [0, 1] where band c holds values around 0.01 * (c + 1).
mae::eval::Reconstruction six_bands() {
  mae::eval::Reconstruction r;
  torch::manual_seed(3);
  const auto level = (torch::arange(6, torch::kFloat32) + 1).reshape({1, 6, 1, 1}) * 0.01f;
  r.original = level * (0.5f + torch::rand({2, 6, 8, 8}));
  r.masked = r.original * 0;
  r.prediction = r.original * 0.9f;
  r.pasted = r.original.clone();
  r.mask = torch::zeros({2, 4});
  r.masked_patch_loss = torch::zeros({2});
  return r;
}

}  // namespace

TEST(BandPicture, ThreeBandsMakeAStretchedComposite) {
  const auto r = six_bands();
  const auto p = mae::eval::picture_bands(r, {3, 2, 1});
  ASSERT_EQ(p.original.sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  // Red is band 3 stretched from its 2nd to its 98th percentile onto [0, 1].
  const auto red = p.original.select(1, 0).flatten(), band3 = r.original.select(1, 2).flatten();
  const auto low = torch::quantile(band3, mae::eval::kStretchLow), high = torch::quantile(band3, mae::eval::kStretchHigh);
  EXPECT_TRUE(torch::allclose(red, ((band3 - low) / (high - low)).clamp(0, 1)));
  EXPECT_EQ(red.min().item<float>(), 0.0f);
  EXPECT_EQ(red.max().item<float>(), 1.0f);
  // The share clipped at each end is about the percentile.
  EXPECT_NEAR((red == 0).to(torch::kFloat32).mean().item<float>(), mae::eval::kStretchLow, 0.02);
  // Every panel uses the originals' stretch: a 0.9x prediction is darker.
  EXPECT_LT(p.prediction.mean().item<float>(), p.original.mean().item<float>());
  EXPECT_EQ(p.masked.max().item<float>(), 0.0f);
}

TEST(BandPicture, WithoutSelectionEveryBandIsAGreyRow) {
  const auto p = mae::eval::picture_bands(six_bands(), {});
  ASSERT_EQ(p.original.sizes(), (std::vector<int64_t>{12, 1, 8, 8}));
  for (int64_t row = 0; row < 12; ++row) EXPECT_NEAR(p.original[row].max().item<float>(), 1.0f, 0.3f) << row;
  // Each row says which image and band it shows.
  ASSERT_EQ(p.row_labels.size(), 12u);
  EXPECT_EQ(p.row_labels.front(), "image 1 band 1");
  EXPECT_EQ(p.row_labels[7], "image 2 band 2");
  const auto grey = mae::eval::picture_bands(six_bands(), {4});
  EXPECT_EQ(grey.original.sizes(), (std::vector<int64_t>{2, 1, 8, 8}));
  EXPECT_TRUE(grey.row_labels.empty());
}

TEST(BandPicture, RowLabelsGetAMarginAndPerBandPicturesStaySmall) {
  const auto labelled = mae::eval::picture_bands(six_bands(), {});
  auto plain = labelled;
  plain.row_labels.clear();
  const auto with = mae::eval::reconstruction_grid(labelled), without = mae::eval::reconstruction_grid(plain);
  const int64_t margin = with.size(1) - without.size(1);
  EXPECT_EQ(margin, mae::eval::text_width("image 1 band 1") + 2);
  EXPECT_EQ(with.size(0), without.size(0));
  // The margin holds the labels' ink; the panels are the same pixels shifted right.
  EXPECT_LT(with.narrow(1, 0, margin).min().item<uint8_t>(), 255);
  EXPECT_TRUE(torch::equal(with.narrow(1, margin, without.size(1)).narrow(0, 20, with.size(0) - 20),
                           without.narrow(0, 20, without.size(0) - 20)));
  // Every band its own row: only as many images as fit about 12 rows.
  EXPECT_EQ(mae::eval::images_in_picture(8, 6, {}), 2);
  EXPECT_EQ(mae::eval::images_in_picture(8, 20, {}), 1);
  EXPECT_EQ(mae::eval::images_in_picture(8, 6, {3, 2, 1}), 8);
  EXPECT_EQ(mae::eval::images_in_picture(8, 3, {}), 8);
  EXPECT_EQ(mae::eval::images_in_picture(8, 1, {}), 8);
}

TEST(BandPicture, PhotosAreUnchangedAndBadBandsAreUsageErrors) {
  mae::eval::Reconstruction rgb = six_bands();
  for (auto* p : {&rgb.original, &rgb.masked, &rgb.prediction, &rgb.pasted}) *p = p->slice(1, 0, 3);
  const auto same = mae::eval::picture_bands(rgb, {});
  EXPECT_TRUE(torch::equal(same.original, rgb.original));
  EXPECT_THROW(mae::eval::picture_bands(six_bands(), {7, 2, 1}), mae::UsageError);
  EXPECT_THROW(mae::eval::picture_bands(six_bands(), {0, 1, 2}), mae::UsageError);
  EXPECT_THROW(mae::eval::picture_bands(six_bands(), {1, 2}), mae::UsageError);
}
