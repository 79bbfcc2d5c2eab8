#include <cmath>

#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/core/error.h"
#include "mae/models/pos_embed.h"

using mae::models::get_2d_sincos_pos_embed;

// Closed form, element by element: column d of cell (h, w) for width D.
static double closed_form(int64_t D, int64_t h, int64_t w, int64_t d) {
  const int64_t half = D / 2, quarter = D / 4;
  const double pos = d < half ? static_cast<double>(w) : static_cast<double>(h);
  const int64_t k = d % half;  // index inside the half
  const double omega = 1.0 / std::pow(10000.0, static_cast<double>(k % quarter) / quarter);
  return k < quarter ? std::sin(pos * omega) : std::cos(pos * omega);
}

TEST(PosEmbed, MatchesClosedFormOnNonSquareGrid) {
  const int64_t D = 16, gh = 3, gw = 5;
  auto table = get_2d_sincos_pos_embed(D, gh, gw, /*cls_token=*/true);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{gh * gw + 1, D}));
  EXPECT_EQ(table[0].abs().sum().item<double>(), 0.0) << "cls row must be zeros";
  double worst = 0;
  for (int64_t h = 0; h < gh; ++h)
    for (int64_t w = 0; w < gw; ++w)
      for (int64_t d = 0; d < D; ++d)
        worst = std::max(worst, std::abs(table[1 + h * gw + w][d].item<double>() - closed_form(D, h, w, d)));
  EXPECT_LT(worst, 1e-12);
}

TEST(PosEmbed, WithoutClsHasOneRowPerCell) {
  EXPECT_EQ(get_2d_sincos_pos_embed(8, 2, 2, false).size(0), 4);
}

TEST(PosEmbed, RejectsWidthNotDivisibleByFour) {
  EXPECT_THROW(get_2d_sincos_pos_embed(6, 2, 2, true), mae::Error);
}
