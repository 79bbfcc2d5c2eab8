#include "mae/io/png_writer.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <vector>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"

namespace mae::io {
namespace {

void append_to_string(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}

// libpng reports errors by longjmp; the message is kept for the exception thrown afterwards.
thread_local char g_png_error[256];

void record_png_error(png_structp png, png_const_charp message) {
  std::snprintf(g_png_error, sizeof(g_png_error), "%s", message);
  png_longjmp(png, 1);
}

// Plain C-style: nothing with a destructor lives between setjmp and a possible longjmp.
bool encode(png_structp png, png_infop info, std::string* encoded, uint32_t w, uint32_t h, int color, int channels,
            const uint8_t* data, png_text* chunks, int num_chunks) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, encoded, append_to_string, nullptr);
  png_set_IHDR(png, info, w, h, 8, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (num_chunks > 0) png_set_text(png, info, chunks, num_chunks);
  png_write_info(png, info);
  for (uint32_t y = 0; y < h; ++y) png_write_row(png, const_cast<png_bytep>(data + static_cast<size_t>(y) * w * channels));
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

void write_png(const std::string& path, const torch::Tensor& image, const std::map<std::string, std::string>& text) {
  MAE_CHECK(image.dim() == 3 && image.scalar_type() == torch::kUInt8, "write_png expects [H, W, C] uint8, got ",
            image.sizes(), " ", image.scalar_type());
  const int64_t h = image.size(0), w = image.size(1), c = image.size(2);
  MAE_CHECK(c == 1 || c == 3 || c == 4, "write_png supports 1, 3 or 4 channels, got ", c);
  const auto pixels = image.contiguous().cpu();
  const int color = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;

  std::vector<png_text> chunks;
  for (const auto& [key, value] : text) {
    png_text t{};
    t.compression = PNG_TEXT_COMPRESSION_NONE;
    t.key = const_cast<char*>(key.c_str());
    t.text = const_cast<char*>(value.c_str());
    chunks.push_back(t);
  }
  std::string encoded;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, record_png_error, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = info && encode(png, info, &encoded, static_cast<uint32_t>(w), static_cast<uint32_t>(h), color,
                                 static_cast<int>(c), pixels.data_ptr<uint8_t>(), chunks.data(), static_cast<int>(chunks.size()));
  png_destroy_write_struct(&png, &info);
  MAE_CHECK(ok, "encoding PNG '", path, "' failed: ", info ? g_png_error : "libpng could not allocate a writer");
  core::write_file_atomic(path, [&](std::ostream& out) { out.write(encoded.data(), static_cast<std::streamsize>(encoded.size())); });
}

}  // namespace mae::io
