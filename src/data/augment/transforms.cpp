#include "mae/data/augment/transforms.h"

#include <algorithm>
#include <cmath>

#include "mae/core/error.h"

namespace mae::data {
namespace {
// Python's int(round(x)): round half to even, which std::nearbyint does in the default mode.
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }
}  // namespace

CropBox random_resized_crop_params(int64_t height, int64_t width, double scale_min, double scale_max,
                                   double ratio_min, double ratio_max, SampleRng& rng) {
  const double area = static_cast<double>(height * width);
  const double log_ratio_min = std::log(ratio_min), log_ratio_max = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect_ratio = std::exp(rng.uniform(log_ratio_min, log_ratio_max));
    const int64_t w = py_round(std::sqrt(target_area * aspect_ratio));
    const int64_t h = py_round(std::sqrt(target_area / aspect_ratio));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = rng.randint(0, height - h + 1);
      const int64_t left = rng.randint(0, width - w + 1);
      return CropBox{top, left, h, w};
    }
  }
  // Fallback to the central crop, its aspect ratio clamped to the range.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_min) {
    h = std::min(height, py_round(static_cast<double>(w) / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = std::min(width, py_round(static_cast<double>(h) * ratio_max));
  }
  return CropBox{(height - h) / 2, (width - w) / 2, h, w};
}

CropBox center_crop_box(int64_t height, int64_t width, int64_t out_h, int64_t out_w, double resize_ratio) {
  // The resize scale that makes the image just cover the output enlarged by resize_ratio.
  const double s = std::max(static_cast<double>(out_h) * resize_ratio / static_cast<double>(height),
                            static_cast<double>(out_w) * resize_ratio / static_cast<double>(width));
  const int64_t h = std::clamp<int64_t>(py_round(static_cast<double>(out_h) / s), 1, height);
  const int64_t w = std::clamp<int64_t>(py_round(static_cast<double>(out_w) / s), 1, width);
  return CropBox{py_round(static_cast<double>(height - h) / 2.0), py_round(static_cast<double>(width - w) / 2.0), h, w};
}

torch::Tensor resize(const torch::Tensor& pixels, int64_t out_h, int64_t out_w, Interpolation mode) {
  if (pixels.size(0) == out_h && pixels.size(1) == out_w) return pixels;
  // [1, C, h, w] with channels-last strides, the batch stride included: then the output is
  // channels-last too and the uint8 SIMD kernel neither repacks the input nor copies the output.
  const auto input = pixels.unsqueeze(0).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{out_h, out_w}).align_corners(false).antialias(true);
  if (mode == Interpolation::kBicubic) {
    options.mode(torch::kBicubic);
  } else {
    options.mode(torch::kBilinear);
  }
  const auto output = F::interpolate(input, options);
  return output[0].permute({1, 2, 0});
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std, double pixel_range)
    : mean_(std::move(mean)), std_(std::move(std)), pixel_range_(pixel_range) {
  MAE_CHECK_USAGE(!mean_.empty() && mean_.size() == std_.size(), "data.mean has ", mean_.size(),
                  " values but data.std has ", std_.size(), "; give one value per channel to each");
  MAE_CHECK_USAGE(pixel_range_ >= 0, "data.pixel_range ", pixel_range_, " must be >= 0 (0: by pixel type)");
  const float range = static_cast<float>(pixel_range_ > 0 ? pixel_range_ : default_pixel_range(torch::kUInt8));
  table_.resize(mean_.size() * 256);
  for (size_t c = 0; c < mean_.size(); ++c) {
    MAE_CHECK_USAGE(std_[c] > 0, "data.std[", c, "] is ", std_[c], "; it must be > 0");
    const float m = static_cast<float>(mean_[c]), s = static_cast<float>(std_[c]);
    for (int v = 0; v < 256; ++v) table_[c * 256 + v] = (static_cast<float>(v) / range - m) / s;
  }
}

void Normalize::apply_float(const torch::Tensor& pixels, torch::ScalarType stored, bool flip, float* out) const {
  const int64_t channels = static_cast<int64_t>(mean_.size());
  MAE_CHECK(pixels.dim() == 3 && pixels.size(2) == channels && pixels.scalar_type() == torch::kFloat32,
            "Normalize expects [H, W, ", channels, "] float32 pixels, got ", pixels.sizes(), " ", pixels.scalar_type());
  const float range = static_cast<float>(pixel_range_ > 0 ? pixel_range_ : default_pixel_range(stored));
  auto planes = pixels.permute({2, 0, 1});  // [C, H, W]
  if (flip) planes = planes.flip({2});
  auto dst = torch::from_blob(out, planes.sizes(), torch::kFloat32);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  const auto mean = torch::tensor(mean_, options).to(torch::kFloat32).reshape({channels, 1, 1});
  const auto std = torch::tensor(std_, options).to(torch::kFloat32).reshape({channels, 1, 1});
  dst.copy_((planes / range - mean) / std);
}

namespace {

// Calls value(c, v) for each pixel value v of the first `channels` channels of [H, W, C' >= channels]
// uint8 pixels and writes the result to out as [channels, H, W], mirrored when flip.
template <typename Out, typename Value>
void write_planes(const torch::Tensor& pixels, int64_t channels, bool flip, Out* out, Value value) {
  MAE_CHECK(pixels.dim() == 3 && pixels.size(2) >= channels && pixels.scalar_type() == torch::kUInt8,
            "expected [H, W, >= ", channels, "] uint8 pixels, got ", pixels.sizes(), " ", pixels.scalar_type());
  // Rows may have any stride (a crop); pixels within a row must be packed.
  const auto src = pixels.stride(2) == 1 && pixels.stride(1) == pixels.size(2) ? pixels : pixels.contiguous();
  const int64_t height = src.size(0), width = src.size(1), plane = height * width;
  const int64_t step = src.size(2), row_stride = src.stride(0);
  const uint8_t* in = src.data_ptr<uint8_t>();
  for (int64_t c = 0; c < channels; ++c) {
    Out* dst = out + c * plane;
    for (int64_t y = 0; y < height; ++y) {
      const uint8_t* row = in + y * row_stride + c;
      Out* out_row = dst + y * width;
      if (flip) {
        for (int64_t x = 0; x < width; ++x) out_row[width - 1 - x] = value(c, row[x * step]);
      } else {
        for (int64_t x = 0; x < width; ++x) out_row[x] = value(c, row[x * step]);
      }
    }
  }
}

}  // namespace

void Normalize::apply(const torch::Tensor& pixels, bool flip, float* out) const {
  const float* table = table_.data();
  write_planes(pixels, channels(), flip, out, [table](int64_t c, uint8_t v) { return table[c * 256 + v]; });
}

std::shared_ptr<const DeviceNormalize> Normalize::device_form() const {
  auto form = std::make_shared<DeviceNormalize>();
  form->range = static_cast<float>(pixel_range_ > 0 ? pixel_range_ : default_pixel_range(torch::kUInt8));
  for (size_t c = 0; c < mean_.size(); ++c) {
    form->mean.push_back(static_cast<float>(mean_[c]));
    form->std.push_back(static_cast<float>(std_[c]));
  }
  return form;
}

void to_planes(const torch::Tensor& pixels, int64_t channels, bool flip, uint8_t* out) {
  write_planes(pixels, channels, flip, out, [](int64_t, uint8_t v) { return v; });
}

}  // namespace mae::data
