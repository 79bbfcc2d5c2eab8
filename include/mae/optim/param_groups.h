// Optimizer parameter groups: which parameters get weight decay, and per-group lr scales
// (layer-wise lr decay for fine-tuning).
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include <torch/torch.h>

namespace mae::optim {

struct ParamGroup {
  std::string name;                 // "decay", "no_decay", "layer_3_decay", ...
  std::vector<std::string> names;   // parameter names, in model order
  std::vector<torch::Tensor> params;
  double weight_decay = 0.0;
  double lr_scale = 1.0;
};

// The official pretraining split (timm's param_groups_weight_decay): no decay for 1-D parameters,
// biases and names listed in `no_decay_names`; decay `weight_decay` for the rest. Parameters with
// requires_grad == false (the sin-cos tables, frozen layers) are left out.
std::vector<ParamGroup> weight_decay_groups(const torch::nn::Module& model, double weight_decay,
                                            const std::vector<std::string>& no_decay_names);

// The official fine-tuning groups (util/lr_decay.py param_groups_lrd): layer id 0 for cls_token,
// pos_embed and patch_embed, i + 1 for blocks.i, num_layers = depth + 1 for the rest (norms, head);
// lr scale layer_decay^(num_layers - id); no weight decay for 1-D parameters and the listed names.
// Groups are named "layer_<id>_decay" / "layer_<id>_no_decay", in order of first appearance.
// Frozen parameters (requires_grad false) are left out.
std::vector<ParamGroup> layer_decay_groups(const torch::nn::Module& model, double weight_decay,
                                           const std::vector<std::string>& no_decay_names, double layer_decay,
                                           int64_t depth);
// The layer id of a parameter name for layer_decay_groups; a segmenter's "backbone." prefix is
// looked through (its neck and heads: depth + 1, as mmseg's LayerDecayOptimizerConstructor).
int64_t vit_layer_id(const std::string& name, int64_t depth);

// Comma-separated names ("pos_embed, cls_token") to a list; blanks dropped.
std::vector<std::string> split_names(const std::string& list);

// One AdamW over the groups, with betas and eps; each group's lr is set by set_lr(). `fused`: the
// update as one kernel per group (fused_adamw.h), else LibTorch's loop.
std::unique_ptr<torch::optim::AdamW> make_adamw(const std::vector<ParamGroup>& groups, double beta1, double beta2,
                                                double eps = 1e-8, bool fused = true);
// One LARS (lars.h) over the groups (the linear probe's optimizer); weight decay per group.
std::unique_ptr<torch::optim::Optimizer> make_lars(const std::vector<ParamGroup>& groups, double momentum = 0.9,
                                                   double trust_coefficient = 0.001);

// Optimizers key their per-parameter state by the parameter's TensorImpl: its address printed as a
// string before LibTorch 2.10 or so, the pointer itself after. The key type is taken from the map.
using OptimizerStateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
OptimizerStateKey optimizer_state_key(const torch::Tensor& param);

// Sets every group's lr to lr * its lr_scale (groups in the order given to make_adamw).
void set_lr(torch::optim::Optimizer& optimizer, const std::vector<ParamGroup>& groups, double lr);

}  // namespace mae::optim
