// `mae export`: one of our checkpoints to a plain safetensors file for other tools, under a chosen
// naming scheme (official/timm, HuggingFace, EasyCV), the full model or the encoder alone, with a
// JSON sidecar (<output>.json, or a folder with config.json) of the model's facts: image size, patch, channels, widths, depth,
// heads, LayerNorm eps, mean/std, classes. The official names load with strict=True into the
// official models_mae / models_vit and into timm's VisionTransformer (docs/weights.md).
#pragma once

#include <string>

#include "mae/core/choice.h"

namespace mae::tasks {

enum class ExportPart { kFull, kEncoder };  // encoder: no decoder, mask_token or head
inline constexpr core::Choice<ExportPart> kExportPartNames[] = {{ExportPart::kFull, "full"}, {ExportPart::kEncoder, "encoder"}};

struct ExportRequest {
  std::string checkpoint;          // .safetensors written by mae pretrain / finetune / linprobe
  // .safetensors, or a folder (ends with '/' or exists) for huggingface / timm: model.safetensors,
  // config.json (from_pretrained / timm.create_model("local-dir:...")) and mae_export.json.
  std::string output;
  ExportPart part = ExportPart::kFull;
  std::string scheme = "official";  // official (= timm), huggingface, easycv
};

struct ExportResult {
  std::string weights, sidecar;
  size_t tensors = 0;
  std::string config;  // a folder's config.json, else empty
};

ExportResult run_export(const ExportRequest& request);

}  // namespace mae::tasks
