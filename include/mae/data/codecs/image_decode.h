// Decoding of JPEG (libjpeg-turbo), PNG (libpng) and TIFF (libtiff) files, told apart by their content.
// JPEG crop-decode: the transform picks its box from the header's size first; the decoder then
// scales in the DCT domain by 1/reduce (reduce = 2, 4, 8) and decodes only the scanlines and iMCU
// columns the box covers. This is the main speed lever of the pipeline.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "mae/data/codecs/image.h"

namespace mae::data {

// Reads `path` and its header (format, size, channels). Throws DataError when the file cannot be
// read or is not a JPEG, PNG or TIFF, or its header is corrupt.
RawImage read_image_file(const std::string& path, const std::string& origin);
// The same for bytes already in memory.
RawImage parse_image(std::string bytes, const std::string& origin);

// Largest reduce in {1, 2, 4, 8} with box.height / reduce >= out_h and box.width / reduce >= out_w,
// so that the decoded region still has at least the output's resolution; 1 unless a JPEG.
int choose_reduce(const RawImage& image, const CropBox& box, int64_t out_h, int64_t out_w);

// Pixels of `box` (full-resolution coordinates, inside the image) as [h, w, channels]: uint8 for
// JPEG and 8-bit PNG, uint16 for 16-bit PNG, the stored type for TIFF and arrays.
// With reduce > 1 (JPEG only) the region is box / reduce rounded to whole pixels:
// rows [round(top / r), round((top + height) / r)), likewise for columns.
// channels: 1 grey, 3 RGB, or (JPEG only) 4 = RGBX, RGB padded to 4 bytes per pixel, the layout
// the resampler's SIMD path reads without repacking. Throws DataError for truncated or corrupt data,
// UsageError when the image's channels cannot become `channels`.
torch::Tensor read_region(const RawImage& image, const CropBox& box, int64_t channels, int reduce = 1);

// The whole image, [H, W, channels].
torch::Tensor decode_full(const RawImage& image, int64_t channels);

// A label map (segmentation): the class indices an 8-bit grey or palette PNG stores (a palette's
// colours are not applied), [H, W] uint8. Throws DataError for another format, RGB or 16 bits.
torch::Tensor decode_label_map(const RawImage& image);

}  // namespace mae::data
