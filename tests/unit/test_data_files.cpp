#include "test_data_files.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>
#ifdef MAE_WITH_WEBP
#include <webp/encode.h>
#endif

namespace mae::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mae_data_test_XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

torch::Tensor smooth_image(int64_t height, int64_t width, int64_t channels, uint64_t seed) {
  auto image = torch::empty({height, width, channels}, torch::kUInt8);
  auto a = image.accessor<uint8_t, 3>();
  const double phase = static_cast<double>(seed % 97) * 0.37;
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      for (int64_t c = 0; c < channels; ++c) {
        const double v = 128 + 60 * std::sin(0.05 * x + 0.7 * c + phase) * std::cos(0.04 * y - 0.3 * c) +
                         50.0 * (static_cast<double>(x + y) / static_cast<double>(width + height) - 0.5);
        a[y][x][c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  return image;
}

std::string encode_jpeg(const torch::Tensor& pixels, int quality, bool progressive) {
  const auto p = pixels.contiguous();
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(p.size(1));
  cinfo.image_height = static_cast<JDIMENSION>(p.size(0));
  cinfo.input_components = static_cast<int>(p.size(2));
  cinfo.in_color_space = p.size(2) == 1 ? JCS_GRAYSCALE : p.size(2) == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const int64_t stride = p.size(1) * p.size(2);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(p.data_ptr<uint8_t>()) + cinfo.next_scanline * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return out;
}

namespace {
void append_png(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}
void flush_png(png_structp) {}
}  // namespace

std::string encode_webp(const torch::Tensor& pixels, float quality) {
#ifdef MAE_WITH_WEBP
  const auto p = pixels.contiguous();
  const int height = static_cast<int>(p.size(0)), width = static_cast<int>(p.size(1));
  const int channels = static_cast<int>(p.size(2));
  const uint8_t* data = p.data_ptr<uint8_t>();
  uint8_t* encoded = nullptr;
  size_t size = 0;
  if (channels == 4) {
    size = quality < 0 ? WebPEncodeLosslessRGBA(data, width, height, width * 4, &encoded)
                       : WebPEncodeRGBA(data, width, height, width * 4, quality, &encoded);
  } else {
    size = quality < 0 ? WebPEncodeLosslessRGB(data, width, height, width * 3, &encoded)
                       : WebPEncodeRGB(data, width, height, width * 3, quality, &encoded);
  }
  if (size == 0) throw std::runtime_error("WebP encoding failed");
  std::string out(reinterpret_cast<const char*>(encoded), size);
  WebPFree(encoded);
  return out;
#else
  throw std::runtime_error("encode_webp: this build has no libwebp");
#endif
}

std::string encode_png(const torch::Tensor& pixels, int color_type, int bit_depth, bool interlaced) {
  const auto p = pixels.contiguous();
  const int64_t height = p.size(0), width = p.size(1), channels = p.size(2);
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) throw std::runtime_error("libpng write failed");
  png_set_write_fn(png, &out, append_png, flush_png);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  const uint8_t* in = p.data_ptr<uint8_t>();
  std::vector<png_color> palette;
  std::vector<uint8_t> indices;
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    for (int64_t i = 0; i < height * width; ++i) {
      const uint8_t* px = in + i * channels;
      png_color colour{px[0], px[channels > 1 ? 1 : 0], px[channels > 2 ? 2 : 0]};
      size_t k = 0;
      while (k < palette.size() && std::memcmp(&palette[k], &colour, 3) != 0) ++k;
      if (k == palette.size()) palette.push_back(colour);
      if (palette.size() > 256) throw std::runtime_error("encode_png: more than 256 colours for a palette");
      indices.push_back(static_cast<uint8_t>(k));
    }
    png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
    std::vector<png_byte> alpha(palette.size(), 128);
    png_set_tRNS(png, info, alpha.data(), static_cast<int>(alpha.size()), nullptr);
  }
  png_write_info(png, info);
  if (interlaced) png_set_interlace_handling(png);
  const bool alpha = color_type & PNG_COLOR_MASK_ALPHA;
  const int64_t out_channels = color_type == PNG_COLOR_TYPE_PALETTE ? 1 : channels + (alpha ? 1 : 0);
  const int64_t bytes = bit_depth / 8;
  std::vector<uint8_t> image(static_cast<size_t>(height * width * out_channels * bytes));
  for (int64_t i = 0; i < height * width; ++i) {
    for (int64_t c = 0; c < out_channels; ++c) {
      const int v = color_type == PNG_COLOR_TYPE_PALETTE ? indices[i] : c < channels ? in[i * channels + c] : 128;
      uint8_t* dst = image.data() + (i * out_channels + c) * bytes;
      if (bytes == 2) {
        dst[0] = dst[1] = static_cast<uint8_t>(v);  // v * 257, big-endian
      } else {
        dst[0] = static_cast<uint8_t>(v);
      }
    }
  }
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) rows[y] = image.data() + y * width * out_channels * bytes;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip) {
  std::string bytes{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (int64_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xFF));
  }
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (!gzip) return write_bytes(path, bytes);
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

void write_cifar(const std::string& path, const torch::Tensor& images, const std::vector<int64_t>& labels,
                 int labels_per_record) {
  const auto p = images.contiguous();
  std::string bytes;
  for (int64_t i = 0; i < p.size(0); ++i) {
    if (labels_per_record == 2) bytes.push_back(static_cast<char>(99 - labels[i]));
    bytes.push_back(static_cast<char>(labels[i]));
    const auto chw = p[i].permute({2, 0, 1}).contiguous();
    bytes.append(reinterpret_cast<const char*>(chw.data_ptr<uint8_t>()), 3 * 32 * 32);
  }
  write_bytes(path, bytes);
}

}  // namespace mae::testing
