// JPEG encoding with libjpeg-turbo, for `mae pack --max-side`: baseline, 4:2:0 for colour (as PIL
// and FFCV write), in memory. libjpeg's error_exit longjmps back here, where the compressor is
// destroyed and an Error thrown; only trivially destructible locals live across the setjmp.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

#include <jpeglib.h>

#include "data/codecs/codecs.h"

namespace mae::data::detail {
namespace {

struct EncodeErrors {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_encode_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<EncodeErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

}  // namespace

std::string jpeg_encode(const torch::Tensor& pixels, int quality) {
  TORCH_CHECK(pixels.dim() == 3 && pixels.scalar_type() == torch::kUInt8 && (pixels.size(2) == 1 || pixels.size(2) == 3),
              "jpeg_encode: expected [H, W, 1 or 3] uint8 pixels, got ", pixels.sizes(), " ", pixels.scalar_type());
  const torch::Tensor rows = pixels.contiguous();
  jpeg_compress_struct cinfo{};
  EncodeErrors err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_encode_error;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    throw Error(str("JPEG encoding failed: ", err.message));
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(rows.size(1));
  cinfo.image_height = static_cast<JDIMENSION>(rows.size(0));
  cinfo.input_components = static_cast<int>(rows.size(2));
  cinfo.in_color_space = rows.size(2) == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const auto* data = rows.data_ptr<uint8_t>();
  const size_t stride = static_cast<size_t>(rows.size(1) * rows.size(2));
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(data + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return out;
}

}  // namespace mae::data::detail
