// Adapting tensors: pos_embed grids, input channels, decoder output channels, the probe head.
#include <gtest/gtest.h>

#include "common/tensor_compare.h"
#include "mae/weights/adapt_weights.h"
#include "mae/models/pos_embed.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using namespace mae::weights;
using mae::models::Grid;
using mae::models::resize_pos_embed;
using mae::testing::error_of;
using mae::testing::tensors_close;
namespace F = torch::nn::functional;

TEST(InteropAdapt, ResizePosEmbedKeepsClsAndIsIdentityOnTheSameGrid) {
  torch::manual_seed(0);
  const auto pos = torch::randn({1, 1 + 3 * 5, 8});
  EXPECT_TRUE(tensors_close("same grid", resize_pos_embed(pos, {3, 5}, {3, 5}), pos, 0, 1e-6));
  const auto bigger = resize_pos_embed(pos, {3, 5}, {6, 4});
  ASSERT_EQ(bigger.sizes(), (std::vector<int64_t>{1, 1 + 6 * 4, 8}));
  EXPECT_TRUE(torch::equal(bigger[0][0], pos[0][0])) << "the cls position is copied, not interpolated";
  const auto constant = torch::full({1, 1 + 4 * 4, 4}, 0.25);
  EXPECT_TRUE(tensors_close("constant grid", resize_pos_embed(constant, {4, 4}, {7, 2}), torch::full({1, 15, 4}, 0.25), 0, 1e-6));
  EXPECT_EQ(resize_pos_embed(pos.to(torch::kHalf), {3, 5}, {2, 2}).scalar_type(), torch::kHalf);
}

TEST(InteropAdapt, ResizePosEmbedRejectsTablesThatDoNotMatchTheGrid) {
  const auto pos = torch::zeros({1, 1 + 6, 8});
  EXPECT_NE(error_of([&] { resize_pos_embed(pos, {3, 3}, {2, 2}); }).find("does not hold 1 prefix tokens and a 3x3 grid"),
            std::string::npos);
  EXPECT_NE(error_of([&] { square_grid(7, 1, "source pos_embed"); }).find("do not form a square grid"), std::string::npos);
  EXPECT_EQ(square_grid(17, 1, "x").h, 4);
  EXPECT_NE(error_of([&] { resize_pos_embed(torch::zeros({1, 5, 8}), {2, 2}, {0, 3}); }).find("empty"), std::string::npos);
}

TEST(InteropAdapt, SincosTableIsTheModelsTable) {
  const auto table = sincos_pos_embed(16, {3, 2}, torch::kFloat32);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{1, 7, 16}));
  EXPECT_TRUE(torch::equal(table[0], mae::models::get_2d_sincos_pos_embed(16, 3, 2, true).to(torch::kFloat32)));
}

// The patch embedding's response to an image [N, C, H, W].
static torch::Tensor embed(const torch::Tensor& image, const torch::Tensor& weight) {
  return F::conv2d(image, weight, F::Conv2dFuncOptions().stride(4));
}

TEST(InteropAdapt, InputConvForGreySumsTheChannels) {
  torch::manual_seed(1);
  const auto w = torch::randn({6, 3, 4, 4});
  const auto grey = torch::randn({2, 1, 8, 8});
  const auto w1 = adapt_input_conv(w, 1);
  ASSERT_EQ(w1.sizes(), (std::vector<int64_t>{6, 1, 4, 4}));
  EXPECT_TRUE(tensors_close("grey response", embed(grey, w1), embed(grey.expand({2, 3, 8, 8}), w), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(adapt_input_conv(w, 3), w));
}

TEST(InteropAdapt, InputConvForMoreChannelsRepeatsAndRescales) {
  torch::manual_seed(2);
  const auto w = torch::randn({6, 3, 4, 4});
  const auto w5 = adapt_input_conv(w, 5);
  ASSERT_EQ(w5.sizes(), (std::vector<int64_t>{6, 5, 4, 4}));
  EXPECT_TRUE(tensors_close("channel 3 = channel 0 * 3/5", w5.select(1, 3), w.select(1, 0) * 0.6, 1e-6, 0));
  const auto constant3 = torch::full({1, 3, 8, 8}, 0.7), constant5 = torch::full({1, 5, 8, 8}, 0.7);
  // Not equal in general (channels repeat unevenly); equal for 6 = 2 x 3 channels.
  const auto w6 = adapt_input_conv(w, 6);
  EXPECT_TRUE(tensors_close("constant image, 6 channels", embed(torch::full({1, 6, 8, 8}, 0.7), w6), embed(constant3, w), 1e-5, 1e-5));
  EXPECT_EQ(embed(constant5, w5).sizes(), embed(constant3, w).sizes());
  EXPECT_NE(error_of([&] { adapt_input_conv(torch::zeros({6, 3}), 1); }).find("[D, C, p, p]"), std::string::npos);
}

TEST(InteropAdapt, PatchPredAveragesOrRepeatsChannelsPerPixel) {
  const int64_t area = 4, dd = 3;
  const auto w = torch::arange(area * 3 * dd, torch::kFloat32).reshape({area * 3, dd});  // rows (pixel, channel)
  const auto grey = adapt_patch_pred(w, 3, 1);
  ASSERT_EQ(grey.sizes(), (std::vector<int64_t>{area, dd}));
  EXPECT_TRUE(torch::equal(grey[2], (w[6] + w[7] + w[8]) / 3));
  const auto bias = adapt_patch_pred(torch::arange(area * 3, torch::kFloat32), 3, 4);
  ASSERT_EQ(bias.size(0), area * 4);
  EXPECT_EQ(bias[4 + 3].item<float>(), 3.0f) << "pixel 1, channel 3 repeats source channel 0";
  EXPECT_NE(error_of([&] { adapt_patch_pred(torch::zeros({7}), 3, 1); }).find("does not hold 3 channels"), std::string::npos);
}

TEST(InteropAdapt, FoldedProbeHeadEqualsBatchNormThenLinearInEval) {
  torch::manual_seed(3);
  torch::nn::BatchNorm1d bn(torch::nn::BatchNorm1dOptions(8).affine(false).eps(1e-6));
  torch::nn::Linear linear(8, 3);
  bn->running_mean.copy_(torch::randn({8}));
  bn->running_var.copy_(torch::rand({8}) + 0.1);
  bn->eval();
  const auto x = torch::randn({5, 8});
  const auto [w, b] = fold_batchnorm_into_linear(bn->running_mean, bn->running_var, 1e-6, linear->weight, linear->bias);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(tensors_close("folded head", F::linear(x, w, b), linear(bn(x)), 1e-5, 1e-5));
  EXPECT_NE(error_of([&] { fold_batchnorm_into_linear(torch::zeros({7}), torch::ones({8}), 1e-6, linear->weight, linear->bias); })
                .find("do not fit Linear"),
            std::string::npos);
}
