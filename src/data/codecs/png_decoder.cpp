// PNG decoding with libpng: palette, grey below 8 bits and tRNS expanded, 16-bit kept at 16 bits
// (uint16, host byte order), alpha dropped (as PIL's convert("RGB") does), grey expanded to RGB
// when asked. Rows below the crop box are never decoded. libpng's errors longjmp back here and become a DataError.
#include <csetjmp>
#include <cstring>
#include <vector>

#include <png.h>

#include "data/codecs/codecs.h"

namespace mae::data::detail {
namespace {

struct ReadState {
  const unsigned char* data;
  size_t size;
  size_t position;
  char message[256];
};

void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ReadState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void read_bytes(png_structp png, png_bytep out, png_size_t count) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (state->position + count > state->size) png_error(png, "unexpected end of file, truncated");
  std::memcpy(out, state->data + state->position, count);
  state->position += count;
}

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// labels: the stored values of an 8-bit (or lower) grey or palette image, as label maps hold class
// indices: no palette expansion, no scaling of low bit depths, alpha dropped.
torch::Tensor decode_region(const std::string& bytes, const std::string& origin, const CropBox& box, int64_t channels,
                            bool labels) {
  ReadState state{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  if (png == nullptr) throw Error(str(origin, ": libpng could not allocate a reader (out of memory?)"));
  png_infop info = png_create_info_struct(png);
  torch::Tensor out;
  std::vector<unsigned char> buffer;
  std::vector<png_bytep> rows;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(str(origin, ": libpng could not allocate a reader (out of memory?)"));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw DataError(str(origin, ": corrupt PNG (", state.message, "); re-encode or remove the file"));
  }
  png_set_read_fn(png, &state, read_bytes);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const bool sixteen = png_get_bit_depth(png, info) == 16;
  if (labels && (sixteen || (color_type != PNG_COLOR_TYPE_PALETTE && (color_type & PNG_COLOR_MASK_COLOR)))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw DataError(str(origin, ": a label map must be an 8-bit grey or palette PNG of class indices, not ",
                        sixteen ? "16-bit" : "RGB", "; save the class index of each pixel as one 8-bit channel"));
  }
  if (labels) {
    png_set_packing(png);
  } else {
    png_set_expand(png);
  }
  if (sixteen) png_set_swap(png);  // PNG stores big-endian samples
  png_set_strip_alpha(png);
  if (!(color_type & PNG_COLOR_MASK_COLOR) && channels == 3) png_set_gray_to_rgb(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int64_t comps = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  const int64_t y0 = box.top, y1 = box.top + box.height;
  const int64_t element = sixteen ? 2 : 1;
  out = torch::empty({box.height, box.width, comps}, sixteen ? torch::kUInt16 : torch::kUInt8);
  auto* dst = static_cast<unsigned char*>(out.data_ptr());
  const size_t copy_bytes = static_cast<size_t>(box.width * comps * element);
  const size_t skip = static_cast<size_t>(box.left * comps * element);
  if (passes == 1) {
    buffer.resize(row_bytes);
    for (int64_t y = 0; y < y1; ++y) {
      png_read_row(png, buffer.data(), nullptr);
      if (y >= y0) std::memcpy(dst + (y - y0) * copy_bytes, buffer.data() + skip, copy_bytes);
    }
  } else {  // Adam7 interlacing: every pass covers the whole image, so decode it all.
    const int64_t height = png_get_image_height(png, info);
    buffer.resize(row_bytes * static_cast<size_t>(height));
    rows.resize(static_cast<size_t>(height));
    for (int64_t y = 0; y < height; ++y) rows[y] = buffer.data() + y * row_bytes;
    png_read_image(png, rows.data());
    for (int64_t y = y0; y < y1; ++y) std::memcpy(dst + (y - y0) * copy_bytes, rows[y] + skip, copy_bytes);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return labels ? out : convert_channels(out, channels, origin);
}

}  // namespace

HeaderInfo png_read_header(const std::string& bytes, const std::string& origin) {
  // Signature (8), IHDR length (4) and type (4), width, height, bit depth, colour type.
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 33 || std::memcmp(p + 12, "IHDR", 4) != 0) {
    throw DataError(str(origin, ": corrupt PNG (no IHDR chunk); re-encode or remove the file"));
  }
  HeaderInfo info;
  info.width = big_endian_u32(p + 16);
  info.height = big_endian_u32(p + 20);
  const int color_type = p[25];
  info.channels = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  info.dtype = p[24] == 16 ? torch::kUInt16 : torch::kUInt8;
  return info;
}

torch::Tensor png_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                int64_t channels) {
  return decode_region(bytes, origin, box, channels, /*labels=*/false);
}

torch::Tensor png_decode_label_map(const std::string& bytes, const std::string& origin) {
  const HeaderInfo h = png_read_header(bytes, origin);
  if (h.height <= 0 || h.width <= 0 || h.height * h.width > kMaxPixels) {
    throw DataError(str(origin, ": PNG of ", h.width, "x", h.height, " pixels is refused (corrupt header?)"));
  }
  return decode_region(bytes, origin, CropBox{0, 0, h.height, h.width}, 1, /*labels=*/true).squeeze(2);
}

}  // namespace mae::data::detail
