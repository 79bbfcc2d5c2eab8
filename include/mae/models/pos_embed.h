// Position embeddings: the fixed 2-D sin-cos tables (MAE's get_2d_sincos_pos_embed) for any grid, and
// learnt tables resized to another grid (loading weights of another resolution, inputs of another size).
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

struct Grid {
  int64_t h = 0, w = 0;
  int64_t cells() const { return h * w; }
};

// pos_embed: [1, P + from.h*from.w, D] -> [1, P + to.h*to.w, D]. The prefix rows are kept; the
// grid is resized by bicubic interpolation with align_corners=False, as the official
// interpolate_pos_embed and timm's resample_abs_pos_embed do (timm passes antialias=True, which
// only matters when shrinking; the official code does not). Non-square grids are fine.
torch::Tensor resize_pos_embed(const torch::Tensor& pos_embed, Grid from, Grid to, int64_t num_prefix_tokens = 1,
                               bool antialias = false);

}  // namespace mae::models
