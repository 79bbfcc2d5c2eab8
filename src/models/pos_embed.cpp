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

}  // namespace mae::models
