// WebP decoding with libwebp (lossy and lossless): alpha dropped (as PIL's convert("RGB") does),
// grey asked for -> PIL's luma weights. The crop box goes to libwebp's own cropping, which decodes
// the rows down to the box's bottom only and converts only the box to RGB.
// A build without libwebp (MAE_WITH_WEBP unset) refuses WebP files.
#include "data/codecs/codecs.h"

#ifdef MAE_WITH_WEBP

#include <webp/decode.h>

#include <algorithm>

namespace mae::data::detail {
namespace {

const char* status_text(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature (an animation?)";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data, truncated";
    default: return "unknown error";
  }
}

const uint8_t* data_of(const std::string& bytes) { return reinterpret_cast<const uint8_t*>(bytes.data()); }

}  // namespace

HeaderInfo webp_read_header(const std::string& bytes, const std::string& origin) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data_of(bytes), bytes.size(), &features);
  if (status != VP8_STATUS_OK) {
    throw DataError(str(origin, ": corrupt WebP (", status_text(status), "); re-encode or remove the file"));
  }
  if (features.has_animation) {
    throw DataError(str(origin, ": animated WebP; save one frame as an image or remove the file"));
  }
  HeaderInfo info;
  info.height = features.height;
  info.width = features.width;
  info.channels = 3;
  return info;
}

torch::Tensor webp_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box,
                                 int64_t channels, int64_t image_height, int64_t image_width) {
  WebPDecoderConfig config;
  MAE_CHECK(WebPInitDecoderConfig(&config), "libwebp's headers and library disagree (WebPInitDecoderConfig failed)");
  // Lossy WebP stores chroma at half resolution and upsamples it from the neighbouring chroma rows
  // and columns: a box starting at an odd row or column would be out of phase (up to 10 levels off
  // a full decode), and its edges would lack their neighbours (2 levels off). So the decoded box
  // starts at an even row and column and reaches two pixels beyond the asked one on every side,
  // inside the image; the asked box is a view into it.
  const int64_t top = std::max<int64_t>(0, box.top - 2) & ~int64_t{1};
  const int64_t left = std::max<int64_t>(0, box.left - 2) & ~int64_t{1};
  const int64_t height = std::min<int64_t>(box.top + box.height + 2, image_height) - top;
  const int64_t width = std::min<int64_t>(box.left + box.width + 2, image_width) - left;
  config.options.use_cropping = 1;
  config.options.crop_left = static_cast<int>(left);
  config.options.crop_top = static_cast<int>(top);
  config.options.crop_width = static_cast<int>(width);
  config.options.crop_height = static_cast<int>(height);
  torch::Tensor out = torch::empty({height, width, 3}, torch::kUInt8);
  config.output.colorspace = MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = out.data_ptr<uint8_t>();
  config.output.u.RGBA.stride = static_cast<int>(width * 3);
  config.output.u.RGBA.size = static_cast<size_t>(out.numel());
  const VP8StatusCode status = WebPDecode(data_of(bytes), bytes.size(), &config);
  WebPFreeDecBuffer(&config.output);  // external memory: frees nothing of ours
  if (status != VP8_STATUS_OK) {
    throw DataError(str(origin, ": corrupt WebP (", status_text(status), "); re-encode or remove the file"));
  }
  const auto region = out.slice(0, box.top - top, box.top - top + box.height).slice(1, box.left - left, box.left - left + box.width);
  return convert_channels(region, channels, origin);
}

}  // namespace mae::data::detail

#else  // no libwebp in this build

namespace mae::data::detail {

HeaderInfo webp_read_header(const std::string&, const std::string& origin) {
  throw DataError(str(origin, ": this mae was built without libwebp, so WebP files cannot be read; install "
                      "libwebp-dev (Debian) and build again, or convert the images to JPEG or PNG"));
}

torch::Tensor webp_decode_region(const std::string& bytes, const std::string& origin, const CropBox&, int64_t, int64_t,
                                 int64_t) {
  webp_read_header(bytes, origin);
  return {};
}

}  // namespace mae::data::detail

#endif  // MAE_WITH_WEBP
