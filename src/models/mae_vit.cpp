#include "mae/models/mae_vit.h"

#include "mae/core/error.h"
#include "mae/kernels/masked_loss.h"
#include "mae/models/linear.h"
#include "mae/models/pos_embed.h"

namespace mae::models {

void MaeViTOptions::validate() const {
  MAE_CHECK_USAGE(patch_size > 0 && img_h > 0 && img_w > 0 && img_h % patch_size == 0 && img_w % patch_size == 0,
                  "image size ", img_h, "x", img_w, " is not divisible by patch_size ", patch_size);
  MAE_CHECK_USAGE(in_chans > 0, "in_chans must be positive, got ", in_chans);
  MAE_CHECK_USAGE(depth >= 0 && decoder_depth >= 0, "depth and decoder_depth must be >= 0");
  MAE_CHECK_USAGE(embed_dim % 4 == 0 && embed_dim > 0, "embed_dim ", embed_dim,
                  " must be a positive multiple of 4 (2-D sin-cos position embedding)");
  MAE_CHECK_USAGE(decoder_embed_dim % 4 == 0 && decoder_embed_dim > 0, "decoder_embed_dim ", decoder_embed_dim,
                  " must be a positive multiple of 4 (2-D sin-cos position embedding)");
  MAE_CHECK_USAGE(num_heads > 0 && embed_dim % num_heads == 0, "embed_dim ", embed_dim, " is not divisible by num_heads ",
                  num_heads);
  MAE_CHECK_USAGE(decoder_num_heads > 0 && decoder_embed_dim % decoder_num_heads == 0, "decoder_embed_dim ",
                  decoder_embed_dim, " is not divisible by decoder_num_heads ", decoder_num_heads);
  MAE_CHECK_USAGE(mlp_ratio > 0, "mlp_ratio must be positive, got ", mlp_ratio);
}

void check_mask_ratio(double mask_ratio, int64_t patches, const std::string& name) {
  MAE_CHECK_USAGE(mask_ratio >= 0 && mask_ratio < 1, name, " must lie in [0, 1), got ", mask_ratio);
  MAE_CHECK_USAGE(static_cast<int64_t>(static_cast<double>(patches) * (1 - mask_ratio)) >= 1, name, " ", mask_ratio,
                  " keeps no patch of the ", patches, "; lower it");
}

void init_linear_xavier_and_layernorm(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      torch::nn::init::xavier_uniform_(linear->weight);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

MaskedAutoencoderViTImpl::MaskedAutoencoderViTImpl(const MaeViTOptions& o) : options_(o) {
  o.validate();
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions{o.img_h, o.img_w, o.patch_size, o.in_chans, o.embed_dim}));
  const int64_t L = o.num_patches();
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, o.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, L + 1, o.embed_dim}), /*requires_grad=*/false);
  BlockOptions block{o.embed_dim, o.num_heads, o.mlp_ratio, true, 0.0, o.norm_eps, o.fused_attn};
  blocks = make_blocks(*this, "blocks", o.depth, block, 0.0);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim}).eps(o.norm_eps)));

  decoder_embed = register_module("decoder_embed", torch::nn::Linear(o.embed_dim, o.decoder_embed_dim));
  mask_token = register_parameter("mask_token", torch::zeros({1, 1, o.decoder_embed_dim}));
  decoder_pos_embed = register_parameter("decoder_pos_embed", torch::zeros({1, L + 1, o.decoder_embed_dim}), false);
  BlockOptions dec{o.decoder_embed_dim, o.decoder_num_heads, o.mlp_ratio, true, 0.0, o.norm_eps, o.fused_attn};
  decoder_blocks = make_blocks(*this, "decoder_blocks", o.decoder_depth, dec, 0.0);
  decoder_norm = register_module("decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.decoder_embed_dim}).eps(o.norm_eps)));
  decoder_pred = register_module("decoder_pred", torch::nn::Linear(o.decoder_embed_dim, o.patch_size * o.patch_size * o.in_chans));
  initialize_weights();
}

void MaskedAutoencoderViTImpl::initialize_weights() {
  torch::NoGradGuard no_grad;
  const int64_t gh = patch_embed->grid_h(), gw = patch_embed->grid_w();
  pos_embed.copy_(get_2d_sincos_pos_embed(options_.embed_dim, gh, gw, true).unsqueeze(0));
  decoder_pos_embed.copy_(get_2d_sincos_pos_embed(options_.decoder_embed_dim, gh, gw, true).unsqueeze(0));
  // The conv is initialised as the Linear layer it is: xavier_uniform over [D, C*p*p].
  auto w = patch_embed->proj->weight;
  torch::nn::init::xavier_uniform_(w.view({w.size(0), -1}));
  torch::nn::init::normal_(cls_token, 0.0, 0.02);
  torch::nn::init::normal_(mask_token, 0.0, 0.02);
  init_linear_xavier_and_layernorm(*this);
}

torch::Tensor MaskedAutoencoderViTImpl::patchify(const torch::Tensor& imgs) const {
  const int64_t p = options_.patch_size, c = options_.in_chans;
  const int64_t h = imgs.size(2) / p, w = imgs.size(3) / p;
  MAE_CHECK(imgs.dim() == 4 && imgs.size(1) == c && imgs.size(2) == h * p && imgs.size(3) == w * p,
            "patchify expects [N, ", c, ", H, W] with H, W multiples of ", p, ", got ", imgs.sizes());
  // [N, C, h, p, w, q] -> [N, h, w, p, q, C]
  return imgs.reshape({imgs.size(0), c, h, p, w, p}).permute({0, 2, 4, 3, 5, 1}).reshape({imgs.size(0), h * w, p * p * c});
}

torch::Tensor MaskedAutoencoderViTImpl::unpatchify(const torch::Tensor& x) const {
  const int64_t p = options_.patch_size, c = options_.in_chans;
  const int64_t h = patch_embed->grid_h(), w = patch_embed->grid_w();
  MAE_CHECK(x.dim() == 3 && x.size(1) == h * w && x.size(2) == p * p * c, "unpatchify expects [N, ", h * w, ", ",
            p * p * c, "], got ", x.sizes());
  // [N, h, w, p, q, C] -> [N, C, h, p, w, q]
  return x.reshape({x.size(0), h, w, p, p, c}).permute({0, 5, 1, 3, 2, 4}).reshape({x.size(0), c, h * p, w * p});
}

Masking MaskedAutoencoderViTImpl::random_masking(const torch::Tensor& x, double mask_ratio, const torch::Tensor& noise) const {
  const int64_t n = x.size(0), l = x.size(1), d = x.size(2);
  MAE_CHECK_USAGE(mask_ratio >= 0.0 && mask_ratio < 1.0, "mask_ratio must be in [0, 1), got ", mask_ratio);
  const auto len_keep = static_cast<int64_t>(static_cast<double>(l) * (1.0 - mask_ratio));
  MAE_CHECK_USAGE(len_keep >= 1, "mask_ratio ", mask_ratio, " keeps no patch of ", l);
  torch::Tensor u = noise;
  if (u.defined()) {
    MAE_CHECK(u.dim() == 2 && u.size(0) == n && u.size(1) == l, "masking noise must be [", n, ", ", l, "], got ", u.sizes());
    u = u.to(x.device());
  } else {
    u = torch::rand({n, l}, x.options().dtype(torch::kFloat32));
  }
  const auto ids_shuffle = torch::argsort(u, int64_t{1});          // ascending: small noise is kept
  const auto ids_restore = torch::argsort(ids_shuffle, int64_t{1});
  const auto ids_keep = ids_shuffle.narrow(1, 0, len_keep);  // [N, K]
  auto x_masked = torch::gather(x, 1, ids_keep.unsqueeze(-1).expand({n, len_keep, d}));
  // mask = 1 where the restored position came from beyond the kept prefix.
  auto mask = (ids_restore >= len_keep).to(x.scalar_type());
  return {x_masked, mask, ids_restore, ids_keep};
}

Masking MaskedAutoencoderViTImpl::forward_encoder(const torch::Tensor& imgs, double mask_ratio, const torch::Tensor& noise) {
  auto x = patch_embed->forward(imgs) + pos_embed.narrow(1, 1, pos_embed.size(1) - 1);  // [N, L, D]
  Masking m = random_masking(x, mask_ratio, noise);
  auto cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({x.size(0), -1, -1});
  x = torch::cat({cls, m.x_masked}, 1);  // [N, 1+K, D]
  for (const auto& blk : *blocks) x = blk->as<Block>()->forward(x);
  m.x_masked = norm->forward(x);
  return m;
}

torch::Tensor MaskedAutoencoderViTImpl::forward_decoder(const torch::Tensor& latent, const torch::Tensor& ids_restore,
                                                       const torch::Tensor& ids_keep) {
  auto x = linear(decoder_embed, latent);  // [N, 1+K, Dd]
  const int64_t n = x.size(0), k = x.size(1) - 1, l = ids_restore.size(1), dd = x.size(2);
  // The official code appends L-K mask tokens, un-shuffles with a gather and prepends cls again:
  // three copies of the decoder's input. Here one copy of the mask token takes the rows of x in
  // place: cls to row 0, kept patch j to row 1 + ids_keep[j]. The same values, in the type that cat
  // promotes to under autocast.
  const auto keep = ids_keep.defined() ? ids_keep : torch::argsort(ids_restore, int64_t{1}).narrow(1, 0, k);
  MAE_CHECK(keep.dim() == 2 && keep.size(0) == n && keep.size(1) == k, "forward_decoder: ids_keep must be [", n, ", ",
            k, "], got ", keep.sizes());
  const auto rows = torch::cat({torch::zeros({n, 1}, keep.options()), keep + 1}, 1).unsqueeze(-1).expand({n, 1 + k, dd});
  const auto dtype = torch::promote_types(x.scalar_type(), mask_token.scalar_type());
  x = mask_token.to(dtype).expand({n, 1 + l, dd}).scatter(1, rows, x.to(dtype)) + decoder_pos_embed;  // [N, 1+L, Dd]
  for (const auto& blk : *decoder_blocks) x = blk->as<Block>()->forward(x);
  x = linear(decoder_pred, decoder_norm->forward(x));  // [N, 1+L, p*p*C]
  return x.narrow(1, 1, l);
}

torch::Tensor MaskedAutoencoderViTImpl::target(const torch::Tensor& imgs) const {
  auto target = patchify(imgs);
  if (options_.norm_pix_loss) {
    // The unbiased variance from the centred values: the same as var(-1, unbiased) (two-pass), and
    // 12x faster than ATen's var kernel over rows of p*p*C = 16 values (2.5 ms a step of the demo).
    const auto centred = target - target.mean(-1, true);
    const auto var = centred.square().sum(-1, true) / static_cast<double>(target.size(-1) - 1);
    target = centred / (var + 1e-6).sqrt();
  }
  return target;
}

torch::Tensor MaskedAutoencoderViTImpl::forward_loss(const torch::Tensor& imgs, const torch::Tensor& pred, const torch::Tensor& mask) const {
  if (kernels::masked_loss_fits(imgs, pred, options_.patch_size)) {  // CUDA: one pass, the target never stored
    return (kernels::masked_loss_rows(imgs, pred, options_.patch_size, options_.norm_pix_loss) * mask).sum() / mask.sum();
  }
  const auto t = target(imgs);
  auto loss = (pred.to(t.scalar_type()) - t).pow(2).mean(-1);  // [N, L], fp32 even under bf16 autocast
  return (loss * mask).sum() / mask.sum();
}

MaeOutput MaskedAutoencoderViTImpl::forward(const torch::Tensor& imgs, double mask_ratio, const torch::Tensor& noise) {
  Masking m = forward_encoder(imgs, mask_ratio, noise);
  auto pred = forward_decoder(m.x_masked, m.ids_restore, m.ids_keep);
  auto loss = forward_loss(imgs, pred, m.mask);
  return {loss, pred, m.mask, m.ids_restore};
}

}  // namespace mae::models
