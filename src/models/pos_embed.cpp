#include "mae/models/pos_embed.h"

#include "mae/core/error.h"

namespace mae::models {

torch::Tensor get_1d_sincos_pos_embed_from_grid(int64_t embed_dim, const torch::Tensor& pos) {
  MAE_CHECK(embed_dim % 2 == 0, "1-D sin-cos embedding needs an even width, got ", embed_dim);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto omega = torch::arange(embed_dim / 2, f64) / (embed_dim / 2.0);
  omega = 1.0 / torch::pow(10000.0, omega);                            // [D/2]
  auto out = torch::outer(pos.reshape({-1}).to(torch::kFloat64), omega);  // [N_pos, D/2]
  return torch::cat({torch::sin(out), torch::cos(out)}, 1);             // [N_pos, D]
}

torch::Tensor get_2d_sincos_pos_embed(int64_t embed_dim, int64_t grid_h, int64_t grid_w, bool cls_token) {
  MAE_CHECK(embed_dim % 4 == 0, "the 2-D sin-cos position embedding needs a width divisible by 4, got ", embed_dim,
            "; choose embed_dim / decoder_embed_dim as a multiple of 4");
  MAE_CHECK(grid_h > 0 && grid_w > 0, "position grid must be non-empty, got ", grid_h, "x", grid_w);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto rows = torch::arange(grid_h, f64).unsqueeze(1).expand({grid_h, grid_w});  // h of each cell
  auto cols = torch::arange(grid_w, f64).unsqueeze(0).expand({grid_h, grid_w});  // w of each cell
  auto emb = torch::cat({get_1d_sincos_pos_embed_from_grid(embed_dim / 2, cols),
                         get_1d_sincos_pos_embed_from_grid(embed_dim / 2, rows)},
                        1);  // [gh*gw, D]
  if (cls_token) emb = torch::cat({torch::zeros({1, embed_dim}, f64), emb}, 0);
  return emb;
}

torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, Grid from, Grid to, int64_t num_prefix_tokens,
                               bool antialias) {
  MAE_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1 && num_prefix_tokens >= 0 &&
                pos_embed.size(1) == num_prefix_tokens + from.cells(),
            "pos_embed of shape ", pos_embed.sizes(), " does not hold ", num_prefix_tokens, " prefix tokens and a ",
            from.h, "x", from.w, " grid");
  MAE_CHECK(to.h > 0 && to.w > 0, "cannot resize pos_embed to an empty ", to.h, "x", to.w, " grid");
  const int64_t dim = pos_embed.size(2);
  const auto dtype = pos_embed.scalar_type();
  // Interpolate in at least float32, as timm does for half-precision tables.
  const auto work = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto prefix = pos_embed.narrow(1, 0, num_prefix_tokens);
  auto grid = pos_embed.narrow(1, num_prefix_tokens, from.cells()).to(work);   // [1, gh*gw, D]
  grid = grid.reshape({1, from.h, from.w, dim}).permute({0, 3, 1, 2});           // [1, D, gh, gw]
  namespace F = torch::nn::functional;
  grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{to.h, to.w})
                                  .mode(torch::kBicubic)
                                  .align_corners(false)
                                  .antialias(antialias));
  grid = grid.permute({0, 2, 3, 1}).reshape({1, to.cells(), dim}).to(dtype);  // [1, h*w, D]
  return torch::cat({prefix, grid}, 1);
}

}  // namespace mae::models
