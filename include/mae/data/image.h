// What the data pipeline passes between its stages: one sample as a source gives it (decoded pixels
// or an encoded file with its header) and the box a transform wants from it.
// Pixel tensors are [H, W, C] uint8 (C = 1 grey or 3 RGB), as decoders and PIL store them.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "mae/core/error.h"

namespace mae::data {

// One unreadable sample: a missing, truncated or non-image file. The loader skips such a sample,
// counts it and logs its origin once; every other error stops the run.
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what) {}
};

// A region in full-resolution pixel coordinates, named as torchvision's crop(top, left, height, width).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

enum class ImageFormat { kPixels, kJpeg, kPng };

struct RawImage {
  ImageFormat format = ImageFormat::kPixels;
  torch::Tensor pixels;  // [H, W, C] uint8, when format == kPixels (may be a view)
  std::string bytes;     // the encoded file otherwise
  int64_t height = 0, width = 0, channels = 0;  // native size (from the header when encoded)
  std::string origin;    // path, "list.txt:12: path" or "file#record", for messages
};

// [H, W, C] uint8 with `channels` channels: grey -> RGB repeats the plane; RGB -> grey uses PIL's
// convert("L") weights (299, 587, 114) / 1000 in its fixed-point form. Any other count throws.
torch::Tensor convert_channels(const torch::Tensor& pixels, int64_t channels);

}  // namespace mae::data
