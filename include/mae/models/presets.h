// Model presets by the official factory names, and the names that describe a model's sizes.
//   mae_vit_<size>_patch<P>[_dec<Dd>d<B>b[<H>h]]   (pretraining, MAE)
//   vit_<size>_patch<P>                             (fine-tuning ViT)
// Sizes (width/depth/heads): mini 128/6/4 (the built-in Fashion-MNIST demo), tiny 192/12/3,
// small 384/12/6, base 768/12/12, large 1024/24/16, huge 1280/32/16, or any as <W>d<D>b<H>h.
// The decoder defaults to the official 512 wide, 8 blocks, 16 heads.
#pragma once

#include <string>
#include <vector>

#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::models {

// Throws UsageError for an unknown name, listing the valid forms.
MaeViTOptions mae_preset(const std::string& name);
VisionTransformerOptions vit_preset(const std::string& name);
std::vector<std::string> preset_names();

// The name that describes `o`'s sizes (mae_preset(mae_name(o)) has o's architecture):
// "mae_vit_base_patch16", "mae_vit_mini_patch4_dec64d2b4h", "mae_vit_96d4b3h_patch4_dec64d2b4h".
std::string mae_name(const MaeViTOptions& o);
std::string vit_name(const VisionTransformerOptions& o);

}  // namespace mae::models
