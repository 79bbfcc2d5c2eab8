// What our checkpoints record about their model: ModelFacts, stored as typed JSON under the weights
// file's metadata key "facts" (numbers exact, lists as lists), beside the resolved config (YAML,
// key "config"). The facts rebuild the model without the config that trained it; `mae export`
// writes them as its JSON sidecar. Files from other tools have none; checkpoints of format 1
// (facts as strings) are read too. The JSON is read and written here only (to_json / from_json);
// everything else uses the members.
//   common  model ("mae" | "vit"), model_name (format 1), img_h, img_w, patch_size, in_chans,
//           embed_dim, depth, num_heads, mlp_ratio, norm_eps, mean [C], std [C]
//   mae     decoder_embed_dim, decoder_depth, decoder_num_heads, norm_pix_loss, mask_ratio
//   vit     num_classes, global_pool, probe_head, class_names [K]; checkpoint-best: val_top1, epoch
//   segmenter  num_classes, class_names [K], seg_head ("upernet" | "linear"), seg_channels,
//           out_indices [4]; checkpoint-best: val_miou, epoch
// Required: model and the sizes of its kind (img_h .. num_heads, and decoder_* for mae); a missing
// one is a damaged file. Every other key, when missing, takes the member's initial value below.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mae/core/choice.h"
#include "mae/models/mae_vit.h"
#include "mae/models/segmenter.h"
#include "mae/models/vision_transformer.h"

namespace mae::tasks {

enum class ModelKind { kMae, kVit, kSegmenter };
inline constexpr core::Choice<ModelKind> kModelKindNames[] = {
    {ModelKind::kMae, "mae"}, {ModelKind::kVit, "vit"}, {ModelKind::kSegmenter, "segmenter"}};

struct ModelFacts {
  ModelKind kind = ModelKind::kMae;
  std::string model_name;  // format 1 (pretraining) only; "" when absent, then not written
  // The encoder, both kinds.
  int64_t img_h = 0, img_w = 0, patch_size = 0, in_chans = 0, embed_dim = 0, depth = 0, num_heads = 0;
  double mlp_ratio = 4.0;
  double norm_eps = 1e-6;
  std::vector<double> mean, std;  // the input normalisation, per channel
  // kMae: the decoder and the masking.
  int64_t decoder_embed_dim = 0, decoder_depth = 0, decoder_num_heads = 0;
  bool norm_pix_loss = false;
  double mask_ratio = 0.75;
  // kVit: the head.
  int64_t num_classes = 0;
  bool global_pool = true;
  bool probe_head = false;
  std::vector<std::string> class_names;
  // kSegmenter (num_classes and class_names too): the head.
  models::SegHead seg_head = models::SegHead::kUPerNet;
  int64_t seg_channels = 0;
  std::vector<int64_t> out_indices;
  // checkpoint-best only: kVit's top-1, kSegmenter's mIoU.
  std::optional<double> val_top1, val_miou;
  std::optional<int64_t> epoch;

  static ModelFacts of_mae(const models::MaeViTOptions& o, double mask_ratio, const std::vector<double>& mean,
                           const std::vector<double>& std);
  static ModelFacts of_vit(const models::VisionTransformerOptions& o, const std::vector<std::string>& class_names,
                           const std::vector<double>& mean, const std::vector<double>& std);

  static ModelFacts of_segmenter(const models::SegmenterOptions& o, const std::vector<std::string>& class_names,
                                 const std::vector<double>& mean, const std::vector<double>& std);

  // The encoder's shape; `base` supplies what the facts do not hold (drop path, head).
  models::VisionTransformerOptions vit_options(models::VisionTransformerOptions base) const;
  // kSegmenter: the whole model; `base` supplies drop path, dropout and the aux weight.
  models::SegmenterOptions segmenter_options(models::SegmenterOptions base) const;
};

// The codec: the only reader and writer of the facts' keys. from_json throws mae::Error naming a
// missing required key.
void to_json(nlohmann::json& j, const ModelFacts& f);
void from_json(const nlohmann::json& j, ModelFacts& f);

// The weights file's metadata: format, facts and the resolved config.
std::map<std::string, std::string> facts_metadata(const ModelFacts& facts, const std::string& config_yaml);

struct StoredFacts {
  bool ours = false;                // a .safetensors with our format key
  std::optional<ModelFacts> facts;  // none in files of other tools, or in ours without model facts
  std::string config_yaml;          // "" when absent
};
// Reads only the file's header. A file that is not a .safetensors of ours gives an empty result;
// facts that are there but damaged throw mae::Error naming the file.
StoredFacts read_facts(const std::string& weights_path);

// The shape facts (model kind, sizes, channels, head) in which `stored` and `wanted` differ, as
// "embed_dim 128 in the checkpoint but 768 now, ..."; "" when they agree.
std::string model_difference(const ModelFacts& stored, const ModelFacts& wanted);

// --resume `request` ("auto": the newest checkpoint of run_dir; else a checkpoint path): throws
// UsageError naming the differences when that checkpoint holds another model than `wanted`, before
// anything is loaded or written. Nothing happens without a checkpoint or for files not ours.
void check_resume_model(const std::string& request, const std::string& run_dir, const ModelFacts& wanted);

}  // namespace mae::tasks
