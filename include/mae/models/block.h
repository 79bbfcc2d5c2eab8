// Pre-norm transformer block (timm's Block): x + drop_path(attn(norm1(x))), then
// x + drop_path(mlp(norm2(x))). LayerNorm eps is 1e-6 as in MAE.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "mae/models/attention.h"
#include "mae/models/mlp.h"

namespace mae::models {

struct BlockOptions {
  int64_t dim = 768;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double drop_path = 0.0;  // stochastic depth rate of this block
  double norm_eps = 1e-6;
  bool fused_attn = true;
};

// Stochastic depth: in training, zeroes each sample's residual branch with probability p and
// scales survivors by 1/(1-p). Identity in eval or when p == 0. x: [N, ...]
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const BlockOptions& options);
  // x: [N, T, D] -> [N, T, D]
  torch::Tensor forward(const torch::Tensor& x);
  // The block's computation itself (forward() adds activation checkpointing around it).
  torch::Tensor forward_plain(const torch::Tensor& x);

  // Activation checkpointing (timm's set_grad_checkpointing): in training, keep only the block's
  // input and recompute its activations during backward, with the same random draws (drop path)
  // and autocast state. Saves memory for one more forward of compute. Applies only when the
  // input requires grad (a block after frozen ones runs plainly).
  void set_grad_checkpointing(bool on) { grad_checkpointing_ = on; }
  bool grad_checkpointing() const { return grad_checkpointing_; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};

  double drop_path_rate() const { return drop_path_; }

  // How often forward_plain() ran, for tests and profiling: a checkpointed training step runs it
  // twice (forward, then the recompute in backward), a plain one once.
  int64_t forward_plain_calls() const { return forward_plain_calls_; }

 private:
  double drop_path_;
  bool grad_checkpointing_ = false;
  int64_t forward_plain_calls_ = 0;
};
TORCH_MODULE(Block);

// Turns activation checkpointing on or off in every Block of `model`.
void set_grad_checkpointing(torch::nn::Module& model, bool on);

// Registers `depth` blocks under `name` ("blocks", "decoder_blocks"); drop path rises linearly
// from 0 to `drop_path_rate` over the depth, as timm does.
torch::nn::ModuleList make_blocks(torch::nn::Module& owner, const std::string& name, int64_t depth,
                                  BlockOptions options, double drop_path_rate);

}  // namespace mae::models
