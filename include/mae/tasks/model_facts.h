// What our checkpoints record about their model: typed JSON under the weights file's metadata key
// "facts" (numbers exact, lists as lists), beside the resolved config (YAML, key "config"). The
// facts rebuild the model without the config that trained it; `mae export` writes them as its
// JSON sidecar. Files from other tools have none; checkpoints of format 1 (facts as strings) are
// read too.
//   common  model ("mae" | "vit"), model_name, img_h, img_w, patch_size, in_chans, embed_dim, depth,
//           num_heads, mlp_ratio, norm_eps, mean [C], std [C]
//   mae     decoder_embed_dim, decoder_depth, decoder_num_heads, norm_pix_loss, mask_ratio
//   vit     num_classes, global_pool, probe_head, class_names [K]; checkpoint-best: val_top1, epoch
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::tasks {

nlohmann::json mae_facts(const models::MaeViTOptions& o, double mask_ratio, const std::vector<double>& mean,
                         const std::vector<double>& std);
nlohmann::json vit_facts(const models::VisionTransformerOptions& o, const std::vector<std::string>& class_names,
                         const std::vector<double>& mean, const std::vector<double>& std);

// The weights file's metadata: format, facts and the resolved config.
std::map<std::string, std::string> facts_metadata(const nlohmann::json& facts, const std::string& config_yaml);

struct StoredFacts {
  nlohmann::json facts;     // null when the file is not one of our checkpoints
  std::string config_yaml;  // "" when absent
  bool ours() const { return !facts.is_null(); }
};
// Reads only the file's header. A file that is not a .safetensors of ours gives an empty result.
StoredFacts read_facts(const std::string& weights_path);

// The encoder shape of our facts; `base` supplies what the facts do not hold (drop path, head).
models::VisionTransformerOptions vit_options_from_facts(const nlohmann::json& facts, models::VisionTransformerOptions base);

// The shape facts (model kind, sizes, channels, head) in which `stored` and `wanted` differ, as
// "embed_dim 128 in the checkpoint but 768 now, ..."; "" when they agree.
std::string model_difference(const nlohmann::json& stored, const nlohmann::json& wanted);

// --resume `request` ("auto": the newest checkpoint of run_dir; else a checkpoint path): throws
// UsageError naming the differences when that checkpoint holds another model than `wanted`, before
// anything is loaded or written. Nothing happens without a checkpoint or for files not ours.
void check_resume_model(const std::string& request, const std::string& run_dir, const nlohmann::json& wanted);

}  // namespace mae::tasks
