#include "mae/optim/param_groups.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mae/optim/fused_adamw.h"
#include "mae/optim/lars.h"

namespace mae::optim {

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

int64_t vit_layer_id(const std::string& full_name, int64_t depth) {
  // A dense-prediction model's encoder is its "backbone."; its neck and heads lie above the blocks.
  const std::string prefix = "backbone.";
  const bool backbone = full_name.rfind(prefix, 0) == 0;
  const std::string name = backbone ? full_name.substr(prefix.size()) : full_name;
  if (name == "cls_token" || name == "pos_embed" || name.rfind("patch_embed", 0) == 0) return 0;
  if (name.rfind("blocks.", 0) == 0) return std::stoll(name.substr(7, name.find('.', 7) - 7)) + 1;
  return depth + 1;
}

std::vector<ParamGroup> layer_decay_groups(const torch::nn::Module& model, double weight_decay,
                                           const std::vector<std::string>& no_decay_names, double layer_decay,
                                           int64_t depth) {
  std::vector<ParamGroup> groups;
  for (const auto& kv : model.named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    const bool no_decay = kv.value().dim() == 1 ||
                          std::find(no_decay_names.begin(), no_decay_names.end(), kv.key()) != no_decay_names.end();
    const int64_t id = vit_layer_id(kv.key(), depth);
    const std::string name = "layer_" + std::to_string(id) + (no_decay ? "_no_decay" : "_decay");
    auto it = std::find_if(groups.begin(), groups.end(), [&](const ParamGroup& g) { return g.name == name; });
    if (it == groups.end()) {
      groups.push_back({name, {}, {}, no_decay ? 0.0 : weight_decay, std::pow(layer_decay, static_cast<double>(depth + 1 - id))});
      it = groups.end() - 1;
    }
    it->names.push_back(kv.key());
    it->params.push_back(kv.value());
  }
  return groups;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const std::vector<ParamGroup>& groups, double beta1, double beta2,
                                                double eps, bool fused) {
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  for (const auto& g : groups) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(0.0);
    options->betas({beta1, beta2}).eps(eps).weight_decay(g.weight_decay);
    torch_groups.emplace_back(g.params, std::move(options));
  }
  const auto defaults = torch::optim::AdamWOptions(0.0).betas({beta1, beta2}).eps(eps);
  if (fused) return std::make_unique<FusedAdamW>(torch_groups, defaults);
  return std::make_unique<torch::optim::AdamW>(torch_groups, defaults);
}

std::unique_ptr<torch::optim::Optimizer> make_lars(const std::vector<ParamGroup>& groups, double momentum,
                                                   double trust_coefficient) {
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  for (const auto& g : groups) {
    auto options = std::make_unique<LarsOptions>(0.0);
    options->momentum(momentum).trust_coefficient(trust_coefficient).weight_decay(g.weight_decay);
    torch_groups.emplace_back(g.params, std::move(options));
  }
  return std::make_unique<Lars>(torch_groups, LarsOptions(0.0).momentum(momentum).trust_coefficient(trust_coefficient));
}

namespace {
template <typename Key>
Key key_of(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << impl;
    return out.str();
  } else {
    return impl;
  }
}
}  // namespace

OptimizerStateKey optimizer_state_key(const torch::Tensor& param) { return key_of<OptimizerStateKey>(param.unsafeGetTensorImpl()); }

void set_lr(torch::optim::Optimizer& optimizer, const std::vector<ParamGroup>& groups, double lr) {
  auto& torch_groups = optimizer.param_groups();
  for (size_t i = 0; i < torch_groups.size() && i < groups.size(); ++i) {
    torch_groups[i].options().set_lr(lr * groups[i].lr_scale);
  }
}

}  // namespace mae::optim
