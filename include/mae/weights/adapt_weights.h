// Adapting pretrained tensors to a model of another resolution, channel count or head layout.
// Legend: P prefix (cls) tokens, gh x gw position grid, D width, C channels, p patch, K classes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "mae/models/pos_embed.h"

namespace mae::weights {

using models::Grid;  // models/pos_embed.h, as resize_pos_embed

// The square grid of a pos_embed with `tokens` rows after `num_prefix_tokens`; throws mae::Error
// naming `what` when the rest is not a square number (give the grid explicitly then).
Grid square_grid(int64_t tokens, int64_t num_prefix_tokens, const std::string& what);

// The fixed 2-D sin-cos table of MAE for `grid` with a zero cls row: [1, 1 + gh*gw, dim].
torch::Tensor sincos_pos_embed(int64_t dim, Grid grid, torch::ScalarType dtype);

// Patch-embedding weight [D, C_src, p, p] -> [D, in_chans, p, p]. One channel: the sum over the
// source channels (timm's adapt_input_conv), so a grey image gives the response an RGB image of
// equal channels gave. More channels: the source channels repeated cyclically and scaled by
// C_src / in_chans, so the response to a constant image keeps its size.
torch::Tensor adapt_input_conv(const torch::Tensor& weight, int64_t in_chans);

// decoder_pred weight [p*p*C_src, Dd] or bias [p*p*C_src] (rows ordered patch row, patch column,
// channel) -> p*p*in_chans rows: the mean over source channels for one channel, the source
// channels repeated cyclically for more.
torch::Tensor adapt_patch_pred(const torch::Tensor& pred, int64_t src_chans, int64_t in_chans);

// The linear-probe head of the official code, BatchNorm1d(affine=False) then Linear, as one Linear
// equal to it in eval mode: W' = W / sqrt(var + eps), b' = b - W' mean.
// mean, var: [D]; weight: [K, D]; bias: [K] -> {weight [K, D], bias [K]}
std::pair<torch::Tensor, torch::Tensor> fold_batchnorm_into_linear(const torch::Tensor& mean, const torch::Tensor& var,
                                                                   double eps, const torch::Tensor& weight,
                                                                   const torch::Tensor& bias);

}  // namespace mae::weights
