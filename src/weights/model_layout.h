// What a target model holds, as the loader needs to know it (internal to load_state_dict.cpp).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/weights/adapt_weights.h"

namespace mae::weights {

enum class HeadKind { kNone, kLinear, kProbe };  // no head, head.{weight,bias}, head.0 BatchNorm + head.1 Linear

struct ModelLayout {
  std::vector<std::string> order;              // parameter then buffer names, registration order
  std::map<std::string, torch::Tensor> tensors;
  std::set<std::string> fixed;                 // a MaskedAutoencoderViT's parameters without gradient (sin-cos tables)
  bool has_decoder = false, has_norm = false, has_fc_norm = false;
  HeadKind head = HeadKind::kNone;
  std::optional<Grid> grid;                    // from the patch_embed submodule
  int64_t patch_size = 0;                      // 0 when unknown
  std::optional<double> layer_norm_eps;        // of the first LayerNorm

  bool has(const std::string& key) const { return tensors.count(key) > 0; }
};

ModelLayout describe_model(torch::nn::Module& model);

}  // namespace mae::weights
