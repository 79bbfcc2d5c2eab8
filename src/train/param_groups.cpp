#include "mae/train/param_groups.h"

#include <algorithm>
#include <sstream>

namespace mae::train {

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
  }
  return out;
}

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<ParamGroup> weight_decay_groups(const torch::nn::Module& model, double weight_decay,
                                            const std::vector<std::string>& no_decay_names) {
  ParamGroup decay{"decay", {}, {}, weight_decay, 1.0};
  ParamGroup no_decay{"no_decay", {}, {}, 0.0, 1.0};
  for (const auto& kv : model.named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    const bool skip = kv.value().dim() <= 1 || ends_with(kv.key(), ".bias") ||
                      std::find(no_decay_names.begin(), no_decay_names.end(), kv.key()) != no_decay_names.end();
    ParamGroup& g = skip ? no_decay : decay;
    g.names.push_back(kv.key());
    g.params.push_back(kv.value());
  }
  std::vector<ParamGroup> groups;
  for (auto* g : {&no_decay, &decay}) {  // the official order
    if (!g->params.empty()) groups.push_back(std::move(*g));
  }
  return groups;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const std::vector<ParamGroup>& groups, double beta1, double beta2,
                                                double eps) {
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  for (const auto& g : groups) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(0.0);
    options->betas({beta1, beta2}).eps(eps).weight_decay(g.weight_decay);
    torch_groups.emplace_back(g.params, std::move(options));
  }
  return std::make_unique<torch::optim::AdamW>(torch_groups, torch::optim::AdamWOptions(0.0).betas({beta1, beta2}).eps(eps));
}

void set_lr(torch::optim::Optimizer& optimizer, const std::vector<ParamGroup>& groups, double lr) {
  auto& torch_groups = optimizer.param_groups();
  for (size_t i = 0; i < torch_groups.size() && i < groups.size(); ++i) {
    torch_groups[i].options().set_lr(lr * groups[i].lr_scale);
  }
}

}  // namespace mae::train
