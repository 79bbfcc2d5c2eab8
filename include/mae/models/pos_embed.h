// Fixed 2-D sin-cos position embeddings (MAE's get_2d_sincos_pos_embed), for any grid.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

// Table of shape [gh*gw (+1 with cls_token), D], float64, rows in row-major (h, w) order.
// The first D/2 columns encode the column coordinate w, the last D/2 the row coordinate h; each
// half is [sin(pos * omega), cos(pos * omega)] with omega_i = 1 / 10000^(i / (D/4)).
// With cls_token the first row is all zeros. D must be divisible by 4.
torch::Tensor get_2d_sincos_pos_embed(int64_t embed_dim, int64_t grid_h, int64_t grid_w, bool cls_token);

// [N_pos, D]: the 1-D table for positions `pos` [N_pos] (float64); D even.
torch::Tensor get_1d_sincos_pos_embed_from_grid(int64_t embed_dim, const torch::Tensor& pos);

}  // namespace mae::models
