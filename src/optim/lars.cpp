#include "mae/optim/lars.h"

#include "mae/core/error.h"
#include "mae/optim/param_groups.h"

namespace mae::optim {

Lars::Lars(const std::vector<torch::optim::OptimizerParamGroup>& groups, LarsOptions defaults)
    : Optimizer(groups, std::make_unique<LarsOptions>(defaults)) {
  MAE_CHECK_USAGE(defaults.lr() >= 0 && defaults.momentum() >= 0 && defaults.weight_decay() >= 0,
                  "LARS needs lr, momentum and weight decay >= 0");
}

torch::Tensor Lars::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const LarsOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::Tensor update = p.grad();
      if (p.dim() > 1) {
        update = update.add(p, o.weight_decay());
        const auto param_norm = p.norm(), update_norm = update.norm();
        const auto one = torch::ones_like(param_norm);
        const auto q = torch::where(param_norm > 0,
                                    torch::where(update_norm > 0, o.trust_coefficient() * param_norm / update_norm, one), one);
        update = update.mul(q);
      }
      auto& slot = state()[optimizer_state_key(p)];
      if (!slot) {
        auto s = std::make_unique<LarsParamState>();
        s->momentum_buffer(torch::zeros_like(p));
        slot = std::move(s);
      }
      auto& mu = static_cast<LarsParamState&>(*slot).momentum_buffer();
      mu.mul_(o.momentum()).add_(update);
      p.add_(mu, -o.lr());
    }
  }
  return loss;
}

}  // namespace mae::optim
