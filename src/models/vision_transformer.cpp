#include "mae/models/vision_transformer.h"

#include "mae/core/error.h"

namespace mae::models {

void VisionTransformerOptions::validate() const {
  MAE_CHECK_USAGE(num_classes >= 0, "num_classes must be >= 0, got ", num_classes);
  MAE_CHECK_USAGE(depth >= 0, "depth must be >= 0, got ", depth);
  MAE_CHECK_USAGE(drop_path_rate >= 0.0 && drop_path_rate < 1.0, "drop_path_rate must be in [0, 1), got ", drop_path_rate);
}

VisionTransformerImpl::VisionTransformerImpl(const VisionTransformerOptions& o) : options_(o) {
  o.validate();
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions{o.img_h, o.img_w, o.patch_size, o.in_chans, o.embed_dim}));
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, o.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, patch_embed->num_patches() + 1, o.embed_dim}));
  BlockOptions block{o.embed_dim, o.num_heads, o.mlp_ratio, true, 0.0, o.norm_eps, o.fused_attn};
  blocks = make_blocks(*this, "blocks", o.depth, block, o.drop_path_rate);
  auto ln = torch::nn::LayerNormOptions({o.embed_dim}).eps(o.norm_eps);
  if (o.global_pool) {
    fc_norm = register_module("fc_norm", torch::nn::LayerNorm(ln));
  } else {
    norm = register_module("norm", torch::nn::LayerNorm(ln));
  }
  MAE_CHECK_USAGE(!o.probe_head || o.num_classes > 0, "a linear-probe head needs num_classes > 0");
  if (o.probe_head) {
    head = torch::nn::Linear(o.embed_dim, o.num_classes);
    probe_head = register_module(
        "head", torch::nn::Sequential(torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(o.embed_dim).affine(false).eps(1e-6)), head));
  } else if (o.num_classes > 0) {
    head = register_module("head", torch::nn::Linear(o.embed_dim, o.num_classes));
  }
  initialize_weights();
}

void timm_vit_init(torch::nn::Module& vit, torch::Tensor& pos_embed, torch::Tensor& cls_token) {
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(pos_embed, 0.0, 0.02);
  torch::nn::init::normal_(cls_token, 0.0, 0.02);
  for (auto& m : vit.modules(/*include_self=*/false)) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(linear->weight, 0.0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* layer_norm = m->as<torch::nn::LayerNorm>()) {
      layer_norm->weight.fill_(1.0);
      layer_norm->bias.zero_();
    }
  }
}

void VisionTransformerImpl::initialize_weights() { timm_vit_init(*this, pos_embed, cls_token); }

void VisionTransformerImpl::reset_head(double std) {
  if (!head) return;
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(head->weight, 0.0, std);
  head->bias.zero_();
}

torch::Tensor VisionTransformerImpl::forward_tokens(const torch::Tensor& imgs) {
  auto x = patch_embed->forward(imgs);  // [N, L, D]
  x = torch::cat({cls_token.expand({x.size(0), -1, -1}), x}, 1) + pos_embed;
  for (const auto& blk : *blocks) x = blk->as<Block>()->forward(x);
  return x;
}

torch::Tensor VisionTransformerImpl::forward_features(const torch::Tensor& imgs) {
  auto x = forward_tokens(imgs);
  if (options_.global_pool) return fc_norm->forward(x.narrow(1, 1, x.size(1) - 1).mean(1));
  return norm->forward(x).select(1, 0);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& imgs) {
  auto features = forward_features(imgs);
  if (probe_head) return probe_head->forward(features);
  return head ? head->forward(features) : features;
}

}  // namespace mae::models
