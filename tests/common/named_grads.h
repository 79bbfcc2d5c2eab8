// The gradients of a module's parameters by name (fp64 CPU copies), for comparing twins.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

namespace mae::testing {

inline std::map<std::string, torch::Tensor> named_grads(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters()) {
    if (p.value().grad().defined()) out[p.key()] = p.value().grad().to(torch::kCPU, torch::kFloat64);
  }
  return out;
}

}  // namespace mae::testing
