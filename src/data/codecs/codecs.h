// Private to src/data: the JPEG, PNG, WebP and TIFF decoders behind image_decode.h, and the JPEG encoder
// of mae pack. Each decoder throws DataError with the origin and the library's own message; none
// prints anything.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "mae/data/codecs/image.h"

namespace mae::data::detail {

struct HeaderInfo {
  int64_t height = 0, width = 0, channels = 0;  // channels: 1 grey, 3 colour, or a TIFF's bands
  torch::ScalarType dtype = torch::kUInt8;      // of the decoded pixels
};

// Images larger than this many pixels are refused (a corrupt or hostile header).
constexpr int64_t kMaxPixels = int64_t{1} << 28;

HeaderInfo jpeg_read_header(const std::string& bytes, const std::string& origin);
// Region of `box` (full-resolution coordinates) decoded at 1/reduce scale, [h, w, channels] uint8;
// channels 4 is RGBX (RGB padded to 4 bytes, the fourth 255).
torch::Tensor jpeg_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                 int64_t channels, int reduce);

// [H, W, 1 or 3] uint8 as a baseline JPEG of `quality` (1..100). Throws Error when libjpeg fails.
std::string jpeg_encode(const torch::Tensor& pixels, int quality);

HeaderInfo png_read_header(const std::string& bytes, const std::string& origin);
// Decodes rows up to the box's bottom only (non-interlaced files), [h, w, channels] uint8, or
// uint16 for 16-bit files.
torch::Tensor png_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                int64_t channels);
// A label map: the stored values of an 8-bit (or lower) grey or palette PNG (class indices, no
// palette colours), [H, W] uint8. Throws DataError for RGB or 16-bit files.
torch::Tensor png_decode_label_map(const std::string& bytes, const std::string& origin);

HeaderInfo webp_read_header(const std::string& bytes, const std::string& origin);
// The box only, [h, w, channels] uint8 (channels 1 or 3); the image's size is its header's.
torch::Tensor webp_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                 int64_t channels, int64_t image_height, int64_t image_width);

HeaderInfo tiff_read_header(const std::string& bytes, const std::string& origin);
// The strips or tiles under `box` only; [h, w, bands] of the file's sample type (maybe a view).
torch::Tensor tiff_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box);

}  // namespace mae::data::detail
