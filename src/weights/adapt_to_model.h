// The adaptations load_state_dict makes to source tensors before matching names (internal).
#pragma once

#include <map>
#include <string>

#include "mae/weights/load_state_dict.h"
#include "weights/model_layout.h"

namespace mae::weights {

using SourceMap = std::map<std::string, torch::Tensor>;

// Rewrites `source` (our names) towards `model`: pos_embed grids, input channels, the probe head,
// a head for another task. Each change is noted in `report`.
void adapt_to_model(SourceMap* source, const ModelLayout& model, const LoadOptions& options, LoadReport* report);

}  // namespace mae::weights
