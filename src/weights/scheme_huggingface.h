// HuggingFace ViTMAE / ViT names <-> ours (internal to key_schemes.cpp).
#pragma once

#include "mae/weights/key_schemes.h"

namespace mae::weights::hf {

// True when `key` is a HuggingFace ViT / ViTMAE name, with or without the "vit." prefix.
bool is_huggingface_key(const std::string& key);
Converted to_ours(const NamedTensors& tensors);
NamedTensors from_ours(const NamedTensors& ours);

}  // namespace mae::weights::hf
