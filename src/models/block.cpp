#include "mae/models/block.h"

#include <cmath>

#include <ATen/autocast_mode.h>

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

torch::Tensor BlockImpl::forward_plain(const torch::Tensor& x) {
  ++forward_plain_calls_;
  if (drop_path_ <= 0.0 || !is_training()) {  // the residual adds ride in proj's and fc2's GEMMs
    auto y = attn->forward_residual(norm1->forward(x), x);
    return mlp->forward_residual(norm2->forward(y), y);
  }
  auto y = x + drop_path(attn->forward(norm1->forward(x)), drop_path_, is_training());
  return y + drop_path(mlp->forward(norm2->forward(y)), drop_path_, is_training());
}

namespace {

// The checkpointed block as one autograd node: forward runs the block without recording (the
// Function machinery disables grad), backward re-runs it with grad on and back-propagates through
// the re-run, which also accumulates the block's parameter gradients (reentrant, as
// torch.utils.checkpoint(use_reentrant=True)). The block is held by raw pointer: the model
// outlives its backward pass.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, BlockImpl* block) {
    const auto device_type = x.device().type();
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
    ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(device_type);
    ctx->saved_data["autocast_dtype"] = at::autocast::get_autocast_dtype(device_type);
    if (block->is_training() && block->drop_path_rate() > 0) {
      ctx->saved_data["rng"] = at::globalContext().defaultGenerator(x.device()).get_state();
    }
    ctx->save_for_backward({x});
    return block->forward_plain(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    auto* block = reinterpret_cast<BlockImpl*>(ctx->saved_data["block"].toInt());
    const auto device_type = x.device().type();
    // Replay the forward's random draws, then give the generator its current state back.
    at::Generator generator = at::globalContext().defaultGenerator(x.device());
    torch::Tensor rng_now;
    if (ctx->saved_data.count("rng")) {
      rng_now = generator.get_state();
      generator.set_state(ctx->saved_data["rng"].toTensor());
    }
    // The recompute runs under the forward's autocast state.
    const bool autocast_was = at::autocast::is_autocast_enabled(device_type);
    const auto autocast_dtype_was = at::autocast::get_autocast_dtype(device_type);
    at::autocast::set_autocast_enabled(device_type, ctx->saved_data["autocast"].toBool());
    at::autocast::set_autocast_dtype(device_type, ctx->saved_data["autocast_dtype"].toScalarType());
    at::autocast::increment_nesting();  // the casts of the recompute are cleared below, not kept for the next step
    torch::Tensor input = x.detach().requires_grad_(true), output;
    {
      torch::AutoGradMode enable(true);
      output = block->forward_plain(input);
    }
    // The cast cache holds bf16 copies of the weights; left filled, the next forward (after the
    // optimizer step) would reuse this step's weights.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_type, autocast_was);
    at::autocast::set_autocast_dtype(device_type, autocast_dtype_was);
    if (rng_now.defined()) generator.set_state(rng_now);
    torch::autograd::backward({output}, {grad[0]});
    return {input.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  if (grad_checkpointing_ && is_training() && torch::GradMode::is_enabled() && x.requires_grad()) {
    return CheckpointedBlock::apply(x, this);
  }
  return forward_plain(x);
}

void set_grad_checkpointing(torch::nn::Module& model, bool on) {
  for (auto& m : model.modules(/*include_self=*/true)) {
    if (auto* block = m->as<Block>()) block->set_grad_checkpointing(on);
  }
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
