#include "mae/weights/adapt_weights.h"

#include <cmath>

#include "mae/core/error.h"
#include "mae/models/pos_embed.h"

namespace mae::weights {

Grid square_grid(int64_t tokens, int64_t num_prefix_tokens, const std::string& what) {
  const int64_t cells = tokens - num_prefix_tokens;
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(cells, 0)))));
  MAE_CHECK(cells > 0 && side * side == cells, what, ": ", cells,
            " position rows do not form a square grid; give the source grid (height and width in patches)");
  return Grid{side, side};
}

torch::Tensor sincos_pos_embed(int64_t dim, Grid grid, torch::ScalarType dtype) {
  return models::get_2d_sincos_pos_embed(dim, grid.h, grid.w, /*cls_token=*/true).unsqueeze(0).to(dtype);
}

// Channel index c of the result takes source channel c mod C_src.
static torch::Tensor repeat_channels(const torch::Tensor& x, int64_t dim, int64_t in_chans) {
  const int64_t src = x.size(dim);
  auto index = torch::arange(in_chans, torch::TensorOptions().dtype(torch::kLong).device(x.device())).remainder(src);
  return x.index_select(dim, index);
}

torch::Tensor adapt_input_conv(const torch::Tensor& weight, int64_t in_chans) {
  MAE_CHECK(weight.dim() == 4 && weight.size(1) > 0, "patch embedding weight must be [D, C, p, p], got ", weight.sizes());
  MAE_CHECK(in_chans > 0, "in_chans must be positive, got ", in_chans);
  const int64_t src = weight.size(1);
  if (in_chans == src) return weight;
  if (in_chans == 1) return weight.sum(1, /*keepdim=*/true);
  return repeat_channels(weight, 1, in_chans) * (static_cast<double>(src) / static_cast<double>(in_chans));
}

torch::Tensor adapt_patch_pred(const torch::Tensor& pred, int64_t src_chans, int64_t in_chans) {
  MAE_CHECK(pred.dim() >= 1 && src_chans > 0 && in_chans > 0 && pred.size(0) % src_chans == 0,
            "decoder_pred of shape ", pred.sizes(), " does not hold ", src_chans, " channels per patch pixel");
  if (in_chans == src_chans) return pred;
  auto sizes = pred.sizes().vec();
  std::vector<int64_t> split = {pred.size(0) / src_chans, src_chans};  // [p*p, C_src, ...]
  split.insert(split.end(), sizes.begin() + 1, sizes.end());
  auto x = pred.reshape(split);
  x = in_chans == 1 ? x.mean(1, /*keepdim=*/true) : repeat_channels(x, 1, in_chans);
  sizes[0] = pred.size(0) / src_chans * in_chans;
  return x.reshape(sizes);
}

std::pair<torch::Tensor, torch::Tensor> fold_batchnorm_into_linear(const torch::Tensor& mean, const torch::Tensor& var,
                                                                   double eps, const torch::Tensor& weight,
                                                                   const torch::Tensor& bias) {
  MAE_CHECK(weight.dim() == 2 && mean.dim() == 1 && var.dim() == 1 && bias.dim() == 1 && mean.size(0) == weight.size(1) &&
                var.size(0) == weight.size(1) && bias.size(0) == weight.size(0),
            "linear-probe head: BatchNorm statistics ", mean.sizes(), "/", var.sizes(), " do not fit Linear ",
            weight.sizes(), " + bias ", bias.sizes());
  const auto work = torch::kFloat64;  // fold in double, return in the weight's dtype
  auto inv_std = (var.to(work) + eps).rsqrt();                // [D]
  auto w = weight.to(work) * inv_std.unsqueeze(0);            // [K, D]
  auto b = bias.to(work) - w.matmul(mean.to(work));           // [K]
  return {w.to(weight.scalar_type()), b.to(bias.scalar_type())};
}

}  // namespace mae::weights
