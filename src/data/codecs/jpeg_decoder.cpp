// JPEG decoding with libjpeg-turbo: DCT-domain scaling (scale_denom), horizontal crop to iMCU
// columns (jpeg_crop_scanline) and skipped scanlines (jpeg_skip_scanlines). libjpeg's error_exit
// longjmps back here, where the decompressor is destroyed and a DataError thrown (as torchvision's
// decode_jpeg does). Only trivially destructible locals are created between setjmp and the jump.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "data/codecs/codecs.h"

namespace mae::data::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are silent, except premature end of data: libjpeg would fill the rest with grey, PIL
// refuses such a file, and so do we.
void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF && !err->truncated) {
    err->truncated = true;
    (*cinfo->err->format_message)(cinfo, err->message);
  }
}

void init_error(jpeg_decompress_struct* cinfo, ErrorManager* err) {
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->pub.emit_message = on_message;
  err->message[0] = '\0';
  err->truncated = false;
}

DataError corrupt(const std::string& origin, const char* message) {
  return DataError(str(origin, ": corrupt JPEG (", message, "); re-encode or remove the file"));
}

// Creates the decompressor and reads the header; libjpeg's errors jump to the caller's setjmp.
void open_jpeg(jpeg_decompress_struct* cinfo, const std::string& bytes) {
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
}

int64_t round_div(int64_t value, int reduce) { return (2 * value + reduce) / (2 * reduce); }

// Adobe CMYK JPEGs store inverted ink values: R = C * K / 255 and so on. Writes 3 channels, or 4
// with the fourth 255 (RGBX).
torch::Tensor cmyk_to_rgb(const torch::Tensor& cmyk, int64_t channels) {
  auto rgb = torch::empty({cmyk.size(0), cmyk.size(1), channels}, torch::kUInt8);
  const uint8_t* in = cmyk.data_ptr<uint8_t>();
  uint8_t* out = rgb.data_ptr<uint8_t>();
  for (int64_t i = 0, n = cmyk.size(0) * cmyk.size(1); i < n; ++i, in += 4, out += channels) {
    for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>((in[c] * in[3] + 127) / 255);
    if (channels == 4) out[3] = 255;
  }
  return rgb;
}

J_COLOR_SPACE output_color_space(bool cmyk, int64_t channels) {
  if (cmyk) return JCS_CMYK;
  return channels == 1 ? JCS_GRAYSCALE : channels == 4 ? JCS_EXT_RGBX : JCS_RGB;
}

}  // namespace

HeaderInfo jpeg_read_header(const std::string& bytes, const std::string& origin) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  init_error(&cinfo, &err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw corrupt(origin, err.message);
  }
  open_jpeg(&cinfo, bytes);
  HeaderInfo info;
  info.height = cinfo.image_height;
  info.width = cinfo.image_width;
  info.channels = cinfo.num_components == 1 ? 1 : 3;
  jpeg_destroy_decompress(&cinfo);
  return info;
}

torch::Tensor jpeg_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                 int64_t channels, int reduce) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  torch::Tensor out;
  std::vector<unsigned char> row;
  bool cmyk = false;
  init_error(&cinfo, &err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw corrupt(origin, err.message);
  }
  open_jpeg(&cinfo, bytes);
  cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = output_color_space(cmyk, channels);
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(reduce);
  jpeg_start_decompress(&cinfo);

  // The box in scaled coordinates, at least one pixel.
  const int64_t out_w = cinfo.output_width, out_h = cinfo.output_height;
  const int64_t y0 = std::min(round_div(box.top, reduce), out_h - 1);
  const int64_t y1 = std::max(std::min(round_div(box.top + box.height, reduce), out_h), y0 + 1);
  const int64_t x0 = std::min(round_div(box.left, reduce), out_w - 1);
  const int64_t x1 = std::max(std::min(round_div(box.left + box.width, reduce), out_w), x0 + 1);

  JDIMENSION x_offset = static_cast<JDIMENSION>(x0);
  JDIMENSION crop_width = static_cast<JDIMENSION>(x1 - x0);
  if (x1 - x0 < out_w) {
    jpeg_crop_scanline(&cinfo, &x_offset, &crop_width);  // widens to whole iMCU columns
  } else {
    x_offset = 0;
  }
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(y0));
  const int64_t comps = cinfo.output_components;
  row.resize(static_cast<size_t>(cinfo.output_width) * comps);
  out = torch::empty({y1 - y0, x1 - x0, comps}, torch::kUInt8);
  unsigned char* dst = out.data_ptr<uint8_t>();
  const size_t row_bytes = static_cast<size_t>((x1 - x0) * comps);
  const size_t skip = static_cast<size_t>((x0 - x_offset) * comps);
  JSAMPROW row_pointer = row.data();
  for (int64_t y = y0; y < y1; ++y, dst += row_bytes) {
    jpeg_read_scanlines(&cinfo, &row_pointer, 1);
    std::memcpy(dst, row.data() + skip, row_bytes);
  }
  const bool truncated = err.truncated;
  jpeg_destroy_decompress(&cinfo);
  if (truncated) {
    throw DataError(str(origin, ": truncated JPEG (", err.message, "); re-download or remove the file"));
  }
  if (cmyk) return convert_channels(cmyk_to_rgb(out, channels == 4 ? 4 : 3), channels, origin);
  return channels == 4 ? out : convert_channels(out, channels, origin);
}

}  // namespace mae::data::detail
