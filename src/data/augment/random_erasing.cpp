#include "mae/data/augment/random_erasing.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "mae/core/error.h"

namespace mae::data {
namespace {

// Python's int(round(x)): round half to even.
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// n standard normal values, both Box-Muller outputs used.
void fill_normal(float* out, int64_t n, SampleRng& rng) {
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(1.0 - rng.uniform()));
    const double t = 2.0 * M_PI * rng.uniform();
    out[i] = static_cast<float>(r * std::cos(t));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(t));
  }
}

}  // namespace

RandomErasing::RandomErasing(RandomErasingOptions options) : options_(options) {
  auto& o = options_;
  if (o.max_aspect <= 0) o.max_aspect = 1.0 / o.min_aspect;
  MAE_CHECK_USAGE(0 <= o.probability && o.probability <= 1, "random erasing probability ", o.probability,
                  " must lie in 0..1 (data.reprob)");
  MAE_CHECK_USAGE(0 < o.min_area && o.min_area <= o.max_area && o.max_area <= 1, "random erasing area [",
                  o.min_area, ", ", o.max_area, "] must satisfy 0 < min <= max <= 1");
  MAE_CHECK_USAGE(0 < o.min_aspect && o.min_aspect <= o.max_aspect, "random erasing aspect ratio [", o.min_aspect,
                  ", ", o.max_aspect, "] must satisfy 0 < min <= max");
  MAE_CHECK_USAGE(o.max_count >= 1, "random erasing count ", o.max_count, " must be >= 1 (data.recount)");
  log_aspect_min_ = std::log(o.min_aspect);
  log_aspect_max_ = std::log(o.max_aspect);
}

std::vector<CropBox> RandomErasing::apply(float* image, int64_t channels, int64_t height, int64_t width,
                                          SampleRng& rng) const {
  const auto& o = options_;
  std::vector<CropBox> boxes;
  if (rng.uniform() > o.probability) return boxes;
  const double area = static_cast<double>(height * width);
  const int64_t count = o.max_count > 1 ? rng.randint(1, o.max_count + 1) : 1;
  std::vector<float> noise;
  for (int64_t k = 0; k < count; ++k) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target_area = rng.uniform(o.min_area, o.max_area) * area / static_cast<double>(count);
      const double aspect = std::exp(rng.uniform(log_aspect_min_, log_aspect_max_));
      const int64_t h = py_round(std::sqrt(target_area * aspect));
      const int64_t w = py_round(std::sqrt(target_area / aspect));
      if (!(w < width && h < height)) continue;
      const CropBox box{rng.randint(0, height - h + 1), rng.randint(0, width - w + 1), h, w};
      // The values of the whole box, [C, h, w] in order, as timm's _get_pixels draws them.
      if (o.mode == ErasingMode::kPixel) {
        noise.resize(static_cast<size_t>(channels * h * w));
        fill_normal(noise.data(), static_cast<int64_t>(noise.size()), rng);
      } else {
        noise.assign(static_cast<size_t>(channels), 0.0f);
        if (o.mode == ErasingMode::kRand) fill_normal(noise.data(), channels, rng);
      }
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t y = 0; y < h; ++y) {
          float* row = image + (c * height + box.top + y) * width + box.left;
          if (o.mode == ErasingMode::kPixel) {
            std::copy_n(noise.data() + (c * h + y) * w, w, row);
          } else {
            std::fill_n(row, w, noise[static_cast<size_t>(c)]);
          }
        }
      }
      boxes.push_back(box);
      break;
    }
  }
  return boxes;
}

std::vector<CropBox> RandomErasing::apply(torch::Tensor& image, SampleRng& rng) const {
  MAE_CHECK(image.dim() == 3 && image.scalar_type() == torch::kFloat32 && image.is_contiguous() &&
                image.device().is_cpu(),
            "RandomErasing expects a contiguous [C, H, W] float32 CPU tensor, got ", image.sizes(), " ",
            image.scalar_type());
  return apply(image.data_ptr<float>(), image.size(0), image.size(1), image.size(2), rng);
}

}  // namespace mae::data
