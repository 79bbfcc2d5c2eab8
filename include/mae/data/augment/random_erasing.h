// timm's RandomErasing (Zhong et al. 2017), applied to one normalised sample after Normalize: with
// probability p, `count` boxes (1..max_count, uniform) are erased; each box takes up to 10 tries of
// area ~ U(min_area, max_area) * image area / count and log aspect ratio ~ U(log min, log max), and
// the first that fits strictly inside the image gets a uniform position. Erased pixels become
//   const: 0 (the dataset mean), rand: one N(0, 1) value per channel, pixel: N(0, 1) per pixel.
// Randomness comes from the sample's SampleRng, so results depend only on (seed, epoch, index).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/data/codecs/image.h"
#include "mae/data/augment/sample_rng.h"

namespace mae::data {

// What erased boxes get: 0, a random colour per box, random noise per pixel (timm's remode).
enum class ErasingMode { kConst, kRand, kPixel };
inline constexpr core::Choice<ErasingMode> kErasingModeNames[] = {
    {ErasingMode::kPixel, "pixel"}, {ErasingMode::kRand, "rand"}, {ErasingMode::kConst, "const"}};

struct RandomErasingOptions {
  double probability = 0.5;
  double min_area = 0.02, max_area = 1.0 / 3.0;  // fractions of the image area
  double min_aspect = 0.3, max_aspect = 0;       // max_aspect 0: 1 / min_aspect
  ErasingMode mode = ErasingMode::kConst;
  int64_t max_count = 1;                         // boxes per erased image: uniform in 1..max_count
};

class RandomErasing {
 public:
  explicit RandomErasing(RandomErasingOptions options);  // validates; throws UsageError
  const RandomErasingOptions& options() const { return options_; }

  // image: [C, H, W] float32, contiguous, erased in place. Returns the erased boxes (none when the
  // probability draw fails; a box may have zero height or width, as in timm).
  std::vector<CropBox> apply(float* image, int64_t channels, int64_t height, int64_t width, SampleRng& rng) const;
  // The same on a [C, H, W] float32 contiguous CPU tensor.
  std::vector<CropBox> apply(torch::Tensor& image, SampleRng& rng) const;

 private:
  RandomErasingOptions options_;
  double log_aspect_min_ = 0, log_aspect_max_ = 0;
};

}  // namespace mae::data
