// Test helpers for multi-band data: smooth N-band images of any pixel type and a libtiff writer
// of every layout the reader must take (strips or tiles, interleaved or planar, compressed or not),
// so each test makes exactly the files it reads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <tiffio.h>
#include <torch/torch.h>

namespace mae::testing {

struct TiffLayout {
  bool tiled = false;          // 16 x 16 tiles, else strips of rows_per_strip rows
  bool planar = false;         // one plane per band (PLANARCONFIG_SEPARATE), else interleaved
  int rows_per_strip = 7;
  uint16_t compression = COMPRESSION_NONE;  // with LZW / deflate a predictor is used too
};

// [H, W, C] of `dtype` (uint8, uint16, int16, float32): smooth gradients and waves that differ by
// band and seed; uint16 fills about 0..12000 (reflectance-like), int16 -3000..3000, float32 0..1.
inline torch::Tensor multiband_image(int64_t height, int64_t width, int64_t bands, torch::ScalarType dtype,
                                     uint64_t seed) {
  const auto y = torch::arange(height, torch::kFloat64).reshape({height, 1, 1});
  const auto x = torch::arange(width, torch::kFloat64).reshape({1, width, 1});
  const auto b = torch::arange(bands, torch::kFloat64).reshape({1, 1, bands});
  const double s = static_cast<double>(seed % 97);
  auto unit = 0.5 + 0.25 * torch::sin(x * (0.21 + 0.01 * s) + b * 0.7) + 0.2 * torch::cos(y * 0.17 - b * (0.3 + 0.02 * s));
  unit = unit.clamp(0, 1);  // [H, W, C] in [0, 1]
  if (dtype == torch::kUInt8) return (unit * 255).round().to(torch::kUInt8);
  if (dtype == torch::kUInt16) return (unit * 12000).round().to(torch::kUInt16);
  if (dtype == torch::kInt16) return ((unit - 0.5) * 6000).round().to(torch::kInt16);
  return unit.to(torch::kFloat32);
}

// Writes [H, W, C] pixels as a TIFF with `layout` (creating its folder).
inline void write_tiff(const std::string& path, const torch::Tensor& pixels, const TiffLayout& layout = {}) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const auto p = pixels.contiguous();
  const uint32_t height = static_cast<uint32_t>(p.size(0)), width = static_cast<uint32_t>(p.size(1));
  const uint16_t bands = static_cast<uint16_t>(p.size(2));
  const size_t element = p.element_size();
  const bool floating = p.scalar_type() == torch::kFloat32;
  const bool is_signed = p.scalar_type() == torch::kInt16;
  TIFF* tiff = TIFFOpen(path.c_str(), "w");
  if (tiff == nullptr) throw std::runtime_error("cannot write " + path);
  TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, width);
  TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, height);
  TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, bands);
  TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, static_cast<uint16_t>(8 * element));
  TIFFSetField(tiff, TIFFTAG_SAMPLEFORMAT, floating ? SAMPLEFORMAT_IEEEFP : is_signed ? SAMPLEFORMAT_INT : SAMPLEFORMAT_UINT);
  TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, bands == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  if (bands > 1 && bands != 3) {  // declare the bands past the first as unspecified extra samples
    std::vector<uint16_t> extra(bands - 1, EXTRASAMPLE_UNSPECIFIED);
    TIFFSetField(tiff, TIFFTAG_EXTRASAMPLES, static_cast<uint16_t>(extra.size()), extra.data());
  }
  TIFFSetField(tiff, TIFFTAG_PLANARCONFIG, layout.planar ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
  TIFFSetField(tiff, TIFFTAG_COMPRESSION, layout.compression);
  if (layout.compression == COMPRESSION_LZW || layout.compression == COMPRESSION_ADOBE_DEFLATE) {
    TIFFSetField(tiff, TIFFTAG_PREDICTOR, floating ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL);
  }
  const uint32_t block_w = layout.tiled ? 16 : width;
  const uint32_t block_h = layout.tiled ? 16 : static_cast<uint32_t>(layout.rows_per_strip);
  if (layout.tiled) {
    TIFFSetField(tiff, TIFFTAG_TILEWIDTH, block_w);
    TIFFSetField(tiff, TIFFTAG_TILELENGTH, block_h);
  } else {
    TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, block_h);
  }
  const size_t per_pixel = layout.planar ? 1 : bands;
  const auto* src = static_cast<const char*>(p.data_ptr());
  for (uint16_t plane = 0; plane < (layout.planar ? bands : 1); ++plane) {
    for (uint32_t y0 = 0; y0 < height; y0 += block_h) {
      for (uint32_t x0 = 0; x0 < width; x0 += block_w) {
        // Tiles are padded to full size; the last strip holds only the rows left.
        const uint32_t rows = layout.tiled ? block_h : std::min(block_h, height - y0);
        std::vector<char> block(static_cast<size_t>(rows) * block_w * per_pixel * element, 0);
        for (uint32_t y = y0; y < std::min(y0 + rows, height); ++y) {
          for (uint32_t x = x0; x < std::min(x0 + block_w, width); ++x) {
            char* dst = block.data() + ((y - y0) * block_w + (x - x0)) * per_pixel * element;
            const char* at = src + (static_cast<size_t>(y) * width + x) * bands * element;
            if (layout.planar) {
              std::memcpy(dst, at + plane * element, element);
            } else {
              std::memcpy(dst, at, bands * element);
            }
          }
        }
        const tmsize_t n = static_cast<tmsize_t>(block.size());
        const tmsize_t written = layout.tiled
                                     ? TIFFWriteEncodedTile(tiff, TIFFComputeTile(tiff, x0, y0, 0, plane), block.data(), n)
                                     : TIFFWriteEncodedStrip(tiff, TIFFComputeStrip(tiff, y0, plane), block.data(), n);
        if (written < 0) throw std::runtime_error("libtiff could not write a block of " + path);
      }
    }
  }
  TIFFClose(tiff);
}

}  // namespace mae::testing
