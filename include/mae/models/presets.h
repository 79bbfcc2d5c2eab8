// Model presets by the official factory names, and the `model.*` configuration keys.
//   mae_vit_{tiny,small,base,large,huge}_patch{P}[_dec{Dd}d{B}b]   (pretraining, MAE)
//   vit_{tiny,small,base,large,huge}_patch{P}                        (fine-tuning ViT)
// Sizes: tiny 192/12/3, small 384/12/6, base 768/12/12, large 1024/24/16, huge 1280/32/16
// (width/depth/heads); the decoder defaults to 512 wide, 8 blocks, 16 heads.
#pragma once

#include <string>
#include <vector>

#include "mae/core/config.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::models {

// Throws UsageError for an unknown name, listing the valid forms.
MaeViTOptions mae_preset(const std::string& name);
VisionTransformerOptions vit_preset(const std::string& name);
std::vector<std::string> preset_names();

// Declares model.* keys: name, img_size, img_h, img_w, in_chans, and size overrides
// (0 keeps the preset's value), norm_pix_loss, mask_ratio, fused_attn.
void add_model_config(core::Config& config);
// The preset named by model.name with every override applied, validated.
MaeViTOptions mae_options_from_config(const core::Config& config);

// Declares the model.* keys of the classification ViT (fine-tuning, linear probe, evaluation):
// the shape keys as add_model_config (name may be a vit_* or mae_vit_* preset), plus
// global_pool, drop_path, num_classes and probe_head.
void add_vit_config(core::Config& config);
// The ViT of model.* (num_classes as given; the caller fills it from the data when 0).
VisionTransformerOptions vit_options_from_config(const core::Config& config);

}  // namespace mae::models
