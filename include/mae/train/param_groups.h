// Optimizer parameter groups: which parameters get weight decay, and per-group lr scales
// (layer-wise lr decay for fine-tuning).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace mae::train {

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

// Comma-separated names ("pos_embed, cls_token") to a list; blanks dropped.
std::vector<std::string> split_names(const std::string& list);

// One AdamW over the groups, with betas and eps; each group's lr is set by set_lr().
std::unique_ptr<torch::optim::AdamW> make_adamw(const std::vector<ParamGroup>& groups, double beta1, double beta2,
                                                double eps = 1e-8);
// Sets every group's lr to lr * its lr_scale (groups in the order given to make_adamw).
void set_lr(torch::optim::Optimizer& optimizer, const std::vector<ParamGroup>& groups, double lr);

}  // namespace mae::train
