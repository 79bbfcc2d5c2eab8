// The image transforms, with torchvision's semantics and names. Pixels are [H, W, C] as in image.h:
// uint8 takes the 8-bit path (torchvision's uint8 kernels and tables, bit for bit); every other type
// is resampled and normalised as float32. The output of normalize is [C, H, W] float32.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/data/loader/batch_source.h"
#include "mae/data/codecs/image.h"
#include "mae/data/augment/sample_rng.h"

namespace mae::data {

enum class Interpolation { kBilinear, kBicubic };
inline constexpr core::Choice<Interpolation> kInterpolationNames[] = {{Interpolation::kBicubic, "bicubic"},
                                                                     {Interpolation::kBilinear, "bilinear"}};

// torchvision RandomResizedCrop.get_params: 10 tries of area fraction ~ U(scale) and log aspect
// ratio ~ U(log ratio); w = round(sqrt(area * ar)), h = round(sqrt(area / ar)); the first that fits
// gets a uniform position; otherwise the centre crop clamped to the ratio range.
CropBox random_resized_crop_params(int64_t height, int64_t width, double scale_min, double scale_max,
                                   double ratio_min, double ratio_max, SampleRng& rng);

// The evaluation box: Resize so the image covers (out_h, out_w) * resize_ratio, then CenterCrop
// (out_h, out_w), expressed as the box of the original image that ends up in the output. For a
// square output this is torchvision's Resize(int(size * ratio)) + CenterCrop(size), 256/224 for MAE.
CropBox center_crop_box(int64_t height, int64_t width, int64_t out_h, int64_t out_w, double resize_ratio);

// Resizes [h, w, C] uint8 or float32 to [out_h, out_w, C] of the same type with antialiasing
// (torch's interpolate, the kernel torchvision's tensor Resize uses; close to PIL's resampling; uint8
// is rounded and clamped, float is not). Any C. Returns the input when the size already matches.
torch::Tensor resize(const torch::Tensor& pixels, int64_t out_h, int64_t out_w, Interpolation mode);

// ToTensor + Normalize (+ horizontal flip) in one pass:
// out[c, y, x] = (pixels[y, flip ? W-1-x : x, c] / range - mean[c]) / std[c], in float32 as
// torchvision computes it; uint8 through a 256-entry table per channel.
// The first `channels` channels of [H, W, C' >= channels] uint8 pixels as [channels, H, W] uint8,
// mirrored when flip: what Normalize::apply reads, left for the device to normalise.
void to_planes(const torch::Tensor& pixels, int64_t channels, bool flip, uint8_t* out);

class Normalize {
 public:
  // pixel_range: the value that becomes 1 (data.pixel_range); 0: by type (image.h's default_pixel_range).
  Normalize(std::vector<double> mean, std::vector<double> std, double pixel_range = 0);
  int64_t channels() const { return static_cast<int64_t>(mean_.size()); }
  // pixels: [H, W, C'] uint8 with C' >= C (the first C are read; RGBX works); out: C * H * W floats.
  void apply(const torch::Tensor& pixels, bool flip, float* out) const;
  // pixels: [H, W, C] float32 resampled from data of type `stored` (which sets the range when
  // pixel_range is 0); out: C * H * W floats.
  void apply_float(const torch::Tensor& pixels, torch::ScalarType stored, bool flip, float* out) const;
  // What apply does to uint8 pixels, for a batch normalised on its device (batch_source.h).
  std::shared_ptr<const DeviceNormalize> device_form() const;

 private:
  std::vector<double> mean_, std_;
  double pixel_range_;
  std::vector<float> table_;  // [C, 256]
};

}  // namespace mae::data
