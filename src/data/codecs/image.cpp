#include "mae/data/codecs/image.h"

namespace mae::data {

torch::Tensor convert_channels(const torch::Tensor& pixels, int64_t channels, const std::string& origin) {
  MAE_CHECK(pixels.dim() == 3 && is_pixel_type(pixels.scalar_type()), "convert_channels expects [H, W, C] pixels, got ",
            pixels.sizes(), " ", pixels.scalar_type());
  const int64_t have = pixels.size(2);
  if (have == channels) return pixels;
  if (have == 1 && channels == 3) return pixels.expand({pixels.size(0), pixels.size(1), 3});
  const bool rgb_to_grey = have == 3 && channels == 1 && pixels.scalar_type() == torch::kUInt8;
  MAE_CHECK_USAGE(rgb_to_grey, origin.empty() ? "" : origin + ": ", "the data has ", have, " channel(s) (",
                  pixels.scalar_type(), ") but the model takes ", channels,
                  " (model.in_chans); set model.in_chans=", have, " and give data.mean / data.std ", have,
                  " values each (`mae stats` computes them)");
  const auto rgb = pixels.contiguous();
  const int64_t n = rgb.size(0) * rgb.size(1);
  auto grey = torch::empty({rgb.size(0), rgb.size(1), 1}, torch::kUInt8);
  const uint8_t* in = rgb.data_ptr<uint8_t>();
  uint8_t* out = grey.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i, in += 3) {
    // PIL's L24: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16, i.e. 0.299 R + 0.587 G + 0.114 B.
    out[i] = static_cast<uint8_t>((in[0] * 19595u + in[1] * 38470u + in[2] * 7471u + 0x8000u) >> 16);
  }
  return grey;
}

bool is_pixel_type(torch::ScalarType dtype) {
  return dtype == torch::kUInt8 || dtype == torch::kUInt16 || dtype == torch::kInt16 || dtype == torch::kFloat32;
}

double default_pixel_range(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kUInt8: return 255.0;
    case torch::kUInt16: return 65535.0;
    case torch::kInt16: return 32767.0;
    default: return 1.0;
  }
}

}  // namespace mae::data
