// PNG output for pictures (reconstructions, confusion matrices), through libpng.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

namespace mae::io {

// image: [H, W, C] uint8 with C = 1 (grey), 3 (RGB) or 4 (RGBA). `text` becomes tEXt chunks
// (e.g. "Description"). Written atomically; throws mae::Error naming the path.
void write_png(const std::string& path, const torch::Tensor& image, const std::map<std::string, std::string>& text = {});

}  // namespace mae::io
