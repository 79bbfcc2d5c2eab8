// `mae export`: one of our checkpoints to a plain safetensors file for other tools, under a chosen
// naming scheme (official/timm, HuggingFace, EasyCV), the full model or the encoder alone, with a
// JSON sidecar (<output>.json) of the model's facts: image size, patch, channels, widths, depth,
// heads, LayerNorm eps, mean/std, classes. The official names load with strict=True into the
// official models_mae / models_vit and into timm's VisionTransformer (docs/weights.md).
#pragma once

#include <string>

namespace mae::tasks {

struct ExportRequest {
  std::string checkpoint;          // .safetensors written by mae pretrain / finetune / linprobe
  std::string output;              // .safetensors
  std::string part = "full";       // full, or encoder (no decoder, mask_token or head)
  std::string scheme = "official";  // official (= timm), huggingface, easycv
};

struct ExportResult {
  std::string weights, sidecar;
  size_t tensors = 0;
};

ExportResult run_export(const ExportRequest& request);

}  // namespace mae::tasks
