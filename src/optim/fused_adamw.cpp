#include "mae/optim/fused_adamw.h"

#include "mae/core/error.h"
#include "mae/optim/param_groups.h"

namespace mae::optim {

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (const auto& group : param_groups()) {  // the kernel below runs without max_exp_avg_sqs
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return torch::optim::AdamW::step(closure);
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      MAE_CHECK(!p.grad().is_sparse(), "AdamW does not support sparse gradients");
      auto& slot = state_[optimizer_state_key(p)];
      if (!slot) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*slot);
      auto& counter = steps_[p.unsafeGetTensorImpl()];
      if (!counter.value.defined()) counter.value = torch::zeros({}, p.options().dtype(torch::kFloat32));
      if (counter.step != s.step()) counter.value.fill_(static_cast<double>(s.step()));  // fresh or loaded state
      s.step(s.step() + 1);
      counter.step = s.step();
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      steps.push_back(counter.value);
    }
    if (params.empty()) continue;
    torch::_foreach_add_(steps, 1);  // one launch for all counters, as PyTorch's fused AdamW
    const auto [beta1, beta2] = o.betas();
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(), beta1, beta2, o.weight_decay(),
                      o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
  return loss;
}

}  // namespace mae::optim
