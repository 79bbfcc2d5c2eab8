// timm's RandAugment (rand_augment_transform), as the MAE / DeiT fine-tuning recipe uses it
// ("rand-m9-mstd0.5-inc1"): per image, n ops drawn uniformly with replacement from the list; each is
// applied with probability p at magnitude m + N(0, mstd) clipped to [0, mmax]; signed ops (rotate,
// shear, translate, the "increasing" enhancements) get a random sign. The ops are PIL's (pil_ops.h).
// Randomness comes from the sample's SampleRng, so results depend only on (seed, epoch, index).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/augment/pil_ops.h"
#include "mae/data/augment/sample_rng.h"

namespace mae::data {

// timm's op names. The *Increasing variants grow stronger with the magnitude (timm's "inc1" list).
enum class AugmentOp {
  kAutoContrast, kEqualize, kInvert, kRotate, kPosterize, kPosterizeIncreasing, kSolarize, kSolarizeIncreasing,
  kSolarizeAdd, kColor, kColorIncreasing, kContrast, kContrastIncreasing, kBrightness, kBrightnessIncreasing,
  kSharpness, kSharpnessIncreasing, kShearX, kShearY, kTranslateXRel, kTranslateYRel
};
const char* augment_op_name(AugmentOp op);  // "AutoContrast", "PosterizeIncreasing", ...

struct RandAugmentOptions {
  int64_t num_ops = 2;         // n
  double magnitude = 10;       // m, on timm's 0..10 scale
  double magnitude_std = 0;    // mstd: gaussian noise on m per op; infinite (mstd > 100): uniform in [0, m]
  double magnitude_max = 10;   // mmax: upper clip of the noisy magnitude
  bool increasing = false;     // inc1: timm's _RAND_INCREASING_TRANSFORMS, else _RAND_TRANSFORMS
  double prob = 0.5;           // p: chance that a drawn op is applied
  double translate_pct = 0.45; // TranslateXRel/YRel at magnitude 10, as a fraction of the image size
  // What the geometric ops use. Defaults: timm's grey fill 128 and nearest resampling (timm itself,
  // given no interpolation, picks bilinear or bicubic at random per op). timm's create_transform, and
  // SampleTransform here, pass round(255 * mean) and the crop's interpolation (bicubic for MAE).
  std::vector<uint8_t> fill{128, 128, 128};  // one per channel, or one for all
  pil::Resample resample = pil::Resample::kNearest;
};

// Parses timm's config string "rand-<section>-<section>..." where a section is a key followed by its
// number: m<int>, n<int>, mstd<float>, mmax<int>, inc<0|1>, p<float>, in any order (later wins).
// Anything else (another policy, an unknown or malformed section, timm's weighted choice "w") throws
// UsageError naming `origin` (e.g. "data.auto_augment"). Keys not in the string keep base's values.
// Unlike timm's parser, "inc0" means off.
RandAugmentOptions parse_rand_augment(const std::string& config, const RandAugmentOptions& base = {},
                                      const std::string& origin = "auto_augment");

// One drawn op of an apply() call, for tests and debugging.
struct AugmentStep {
  AugmentOp op;
  bool applied = false;  // false: skipped by the op's probability
  double magnitude = 0;  // after noise and clipping (when applied)
};

class RandAugment {
 public:
  explicit RandAugment(RandAugmentOptions options);  // validates; throws UsageError
  const RandAugmentOptions& options() const { return options_; }
  const std::vector<AugmentOp>& ops() const { return ops_; }  // the list ops are drawn from

  // pixels: [H, W, C] uint8 (C = 1 or 3) -> [H, W, C] uint8; the input is never written (when no op is
  // applied it is returned as is). trace, when given, receives the n drawn ops.
  torch::Tensor apply(const torch::Tensor& pixels, SampleRng& rng, std::vector<AugmentStep>* trace = nullptr) const;
  // One op at a magnitude (0..10 scale, no noise, no skipping); draws only the sign of signed ops.
  torch::Tensor apply_op(const torch::Tensor& pixels, AugmentOp op, double magnitude, SampleRng& rng) const;

 private:
  RandAugmentOptions options_;
  std::vector<AugmentOp> ops_;
};

}  // namespace mae::data
