#include "mae/data/image.h"

namespace mae::data {

torch::Tensor convert_channels(const torch::Tensor& pixels, int64_t channels) {
  MAE_CHECK(pixels.dim() == 3 && pixels.scalar_type() == torch::kUInt8, "convert_channels expects [H, W, C] uint8, got ",
            pixels.sizes(), " ", pixels.scalar_type());
  const int64_t have = pixels.size(2);
  if (have == channels) return pixels;
  if (have == 1 && channels == 3) return pixels.expand({pixels.size(0), pixels.size(1), 3});
  MAE_CHECK(have == 3 && channels == 1, "cannot convert ", have, "-channel pixels to ", channels,
            " channels; images give 1 (grey) or 3 (RGB) channels, set model.in_chans to 1 or 3");
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

}  // namespace mae::data
