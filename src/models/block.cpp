#include "mae/models/block.h"

#include <cmath>

namespace mae::models {

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (p <= 0.0 || !training) return x;
  const double keep = 1.0 - p;
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = torch::empty(shape, x.options()).bernoulli_(keep);
  return x * mask / keep;
}

BlockImpl::BlockImpl(const BlockOptions& o) : drop_path_(o.drop_path) {
  const auto hidden = static_cast<int64_t>(static_cast<double>(o.dim) * o.mlp_ratio);  // int() as timm
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.norm_eps)));
  attn = register_module("attn", Attention(o.dim, o.num_heads, o.qkv_bias, o.fused_attn));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim}).eps(o.norm_eps)));
  mlp = register_module("mlp", Mlp(o.dim, hidden));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto y = x + drop_path(attn->forward(norm1->forward(x)), drop_path_, is_training());
  return y + drop_path(mlp->forward(norm2->forward(y)), drop_path_, is_training());
}

torch::nn::ModuleList make_blocks(torch::nn::Module& owner, const std::string& name, int64_t depth,
                                  BlockOptions options, double drop_path_rate) {
  torch::nn::ModuleList blocks;
  for (int64_t i = 0; i < depth; ++i) {
    options.drop_path = depth > 1 ? drop_path_rate * static_cast<double>(i) / static_cast<double>(depth - 1) : 0.0;
    blocks->push_back(Block(options));
  }
  return owner.register_module(name, blocks);
}

}  // namespace mae::models
