// What the data pipeline passes between its stages: one sample as a source gives it (decoded pixels
// or an encoded file with its header) and the box a transform wants from it.
// Pixel tensors are [H, W, C] (channels last, as decoders and PIL store them) of uint8, uint16,
// int16 or float32 with any channel count C: 1 grey, 3 RGB, or the bands of a TIFF or an array.
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

enum class ImageFormat { kPixels, kJpeg, kPng, kWebp, kTiff };

struct RawImage {
  ImageFormat format = ImageFormat::kPixels;
  torch::Tensor pixels;  // [H, W, C], when format == kPixels (may be a strided view of a mapped file)
  std::string bytes;     // the encoded file otherwise
  int64_t height = 0, width = 0, channels = 0;  // native size (from the header when encoded)
  std::string origin;    // path, "list.txt:12: path" or "file#record", for messages
};

// [H, W, C] with `channels` channels: the same count passes through; grey -> RGB repeats the plane;
// uint8 RGB -> grey uses PIL's convert("L") weights (299, 587, 114) / 1000 in its fixed-point form.
// Any other pair throws a UsageError naming both counts and `origin`.
torch::Tensor convert_channels(const torch::Tensor& pixels, int64_t channels, const std::string& origin = "");

// The pixel types the pipeline reads: uint8, uint16, int16, float32.
bool is_pixel_type(torch::ScalarType dtype);
// The value that maps to 1.0 before Normalize when data.pixel_range is 0 (by type): 255 for uint8,
// 65535 for uint16, 32767 for int16, 1 for float32.
double default_pixel_range(torch::ScalarType dtype);

}  // namespace mae::data
