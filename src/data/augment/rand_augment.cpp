#include "mae/data/augment/rand_augment.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "mae/core/error.h"
#include "mae/core/parse.h"

namespace mae::data {
namespace {

using core::parse_double;
using core::parse_int;

constexpr double kLevelDenominator = 10.0;  // timm's _LEVEL_DENOM: magnitudes are on a 0..10 scale

const std::vector<AugmentOp>& rand_ops(bool increasing) {
  using O = AugmentOp;
  static const std::vector<AugmentOp> plain{
      O::kAutoContrast, O::kEqualize, O::kInvert, O::kRotate, O::kPosterize, O::kSolarize, O::kSolarizeAdd, O::kColor,
      O::kContrast, O::kBrightness, O::kSharpness, O::kShearX, O::kShearY, O::kTranslateXRel, O::kTranslateYRel};
  static const std::vector<AugmentOp> rising{
      O::kAutoContrast, O::kEqualize, O::kInvert, O::kRotate, O::kPosterizeIncreasing, O::kSolarizeIncreasing,
      O::kSolarizeAdd, O::kColorIncreasing, O::kContrastIncreasing, O::kBrightnessIncreasing,
      O::kSharpnessIncreasing, O::kShearX, O::kShearY, O::kTranslateXRel, O::kTranslateYRel};
  return increasing ? rising : plain;
}

RandAugmentOptions validated(RandAugmentOptions o) {
  MAE_CHECK_USAGE(o.num_ops >= 0, "RandAugment: n = ", o.num_ops, " ops per image must be >= 0");
  MAE_CHECK_USAGE(o.magnitude_std >= 0, "RandAugment: mstd ", o.magnitude_std, " must be >= 0");
  MAE_CHECK_USAGE(o.magnitude_max > 0, "RandAugment: mmax ", o.magnitude_max, " must be > 0 (default 10)");
  MAE_CHECK_USAGE(0 <= o.prob && o.prob <= 1, "RandAugment: p ", o.prob, " is a probability; use 0..1");
  MAE_CHECK_USAGE(o.translate_pct >= 0, "RandAugment: translate_pct ", o.translate_pct, " must be >= 0");
  MAE_CHECK_USAGE(!o.fill.empty(), "RandAugment: fill needs one value, or one per channel");
  return o;
}

}  // namespace

const char* augment_op_name(AugmentOp op) {
  switch (op) {
    case AugmentOp::kAutoContrast: return "AutoContrast";
    case AugmentOp::kEqualize: return "Equalize";
    case AugmentOp::kInvert: return "Invert";
    case AugmentOp::kRotate: return "Rotate";
    case AugmentOp::kPosterize: return "Posterize";
    case AugmentOp::kPosterizeIncreasing: return "PosterizeIncreasing";
    case AugmentOp::kSolarize: return "Solarize";
    case AugmentOp::kSolarizeIncreasing: return "SolarizeIncreasing";
    case AugmentOp::kSolarizeAdd: return "SolarizeAdd";
    case AugmentOp::kColor: return "Color";
    case AugmentOp::kColorIncreasing: return "ColorIncreasing";
    case AugmentOp::kContrast: return "Contrast";
    case AugmentOp::kContrastIncreasing: return "ContrastIncreasing";
    case AugmentOp::kBrightness: return "Brightness";
    case AugmentOp::kBrightnessIncreasing: return "BrightnessIncreasing";
    case AugmentOp::kSharpness: return "Sharpness";
    case AugmentOp::kSharpnessIncreasing: return "SharpnessIncreasing";
    case AugmentOp::kShearX: return "ShearX";
    case AugmentOp::kShearY: return "ShearY";
    case AugmentOp::kTranslateXRel: return "TranslateXRel";
    case AugmentOp::kTranslateYRel: return "TranslateYRel";
  }
  return "?";
}

RandAugmentOptions parse_rand_augment(const std::string& config, const RandAugmentOptions& base,
                                      const std::string& origin) {
  const std::string usage = " (e.g. 'rand-m9-mstd0.5-inc1': m magnitude 0..10, n ops per image, mstd magnitude "
                            "noise, mmax magnitude clip, inc 0|1 increasing ops, p op probability)";
  std::vector<std::string> sections;
  size_t begin = 0;
  while (true) {
    const size_t end = config.find('-', begin);
    sections.push_back(config.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  MAE_CHECK_USAGE(sections[0] == "rand", origin, " '", config, "': only RandAugment is supported, written 'rand-...'",
                  usage);
  RandAugmentOptions o = base;
  for (size_t i = 1; i < sections.size(); ++i) {
    const std::string& s = sections[i];
    const auto digit = std::find_if(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
    const std::string key(s.begin(), digit), value(digit, s.end());
    int64_t n = 0;
    double x = 0;
    const std::string bad = str(origin, " '", config, "': section '", s, "' ");
    if (key == "m") {
      MAE_CHECK_USAGE(parse_int(value, &n), bad, "needs an integer magnitude", usage);
      o.magnitude = static_cast<double>(n);
    } else if (key == "n") {
      MAE_CHECK_USAGE(parse_int(value, &n), bad, "needs an integer number of ops", usage);
      o.num_ops = n;
    } else if (key == "mstd") {
      MAE_CHECK_USAGE(parse_double(value, &x), bad, "needs a number", usage);
      o.magnitude_std = x > 100 ? std::numeric_limits<double>::infinity() : x;
    } else if (key == "mmax") {
      MAE_CHECK_USAGE(parse_int(value, &n), bad, "needs an integer", usage);
      o.magnitude_max = static_cast<double>(n);
    } else if (key == "inc") {
      MAE_CHECK_USAGE(parse_int(value, &n) && (n == 0 || n == 1), bad, "takes 0 or 1", usage);
      o.increasing = n == 1;
    } else if (key == "p") {
      MAE_CHECK_USAGE(parse_double(value, &x), bad, "needs a probability", usage);
      o.prob = x;
    } else if (key == "w") {
      throw UsageError(str(bad, "asks for timm's weighted op choice, which is not supported", usage));
    } else {
      throw UsageError(str(bad, "is not a known setting", usage));
    }
  }
  return o;
}

RandAugment::RandAugment(RandAugmentOptions options)
    : options_(validated(std::move(options))), ops_(rand_ops(options_.increasing)) {}

torch::Tensor RandAugment::apply(const torch::Tensor& pixels, SampleRng& rng, std::vector<AugmentStep>* trace) const {
  const auto& o = options_;
  if (trace) trace->clear();
  // np.random.choice(ops, n, replace=True): every draw first, then the ops in order.
  std::vector<AugmentOp> chosen;
  for (int64_t i = 0; i < o.num_ops; ++i) {
    chosen.push_back(ops_[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(ops_.size())))]);
  }
  torch::Tensor image = pixels;
  for (AugmentOp op : chosen) {
    AugmentStep step{op};
    if (o.prob < 1.0 && rng.uniform() > o.prob) {
      if (trace) trace->push_back(step);
      continue;
    }
    double magnitude = o.magnitude;
    if (std::isinf(o.magnitude_std)) {
      magnitude = rng.uniform(0, magnitude);
    } else if (o.magnitude_std > 0) {
      magnitude += o.magnitude_std * rng.normal();
    }
    magnitude = std::max(0.0, std::min(magnitude, o.magnitude_max));
    image = apply_op(image, op, magnitude, rng);
    step.applied = true;
    step.magnitude = magnitude;
    if (trace) trace->push_back(step);
  }
  return image;
}

torch::Tensor RandAugment::apply_op(const torch::Tensor& pixels, AugmentOp op, double magnitude, SampleRng& rng) const {
  namespace P = pil;
  const auto& o = options_;
  MAE_CHECK(pixels.dim() == 3 && (pixels.size(2) == 1 || pixels.size(2) == 3),
            "RandAugment expects [H, W, 1 or 3] pixels, got ", pixels.sizes());
  const int64_t channels = pixels.size(2);
  // A grey image takes the first fill value (timm's fill has one value per channel of the mean).
  const std::vector<uint8_t> fill =
      static_cast<int64_t>(o.fill.size()) == channels || o.fill.size() == 1 ? o.fill : std::vector<uint8_t>{o.fill[0]};
  const double level = magnitude / kLevelDenominator;
  auto random_sign = [&rng](double v) { return rng.uniform() > 0.5 ? -v : v; };  // timm's _randomly_negate
  auto enhance = [&] { return level * 1.8 + 0.1; };                             // [0.1, 1.9]
  auto enhance_increasing = [&] { return std::max(0.1, 1.0 + random_sign(level * 0.9)); };
  switch (op) {
    case AugmentOp::kAutoContrast: return P::auto_contrast(pixels);
    case AugmentOp::kEqualize: return P::equalize(pixels);
    case AugmentOp::kInvert: return P::invert(pixels);
    case AugmentOp::kRotate: return P::rotate(pixels, random_sign(level * 30.0), o.resample, fill);
    case AugmentOp::kPosterize: return P::posterize(pixels, static_cast<int>(level * 4.0));
    case AugmentOp::kPosterizeIncreasing: return P::posterize(pixels, 4 - static_cast<int>(level * 4.0));
    case AugmentOp::kSolarize: return P::solarize(pixels, static_cast<int>(level * 256.0));
    case AugmentOp::kSolarizeIncreasing: return P::solarize(pixels, 256 - static_cast<int>(level * 256.0));
    case AugmentOp::kSolarizeAdd: return P::solarize_add(pixels, static_cast<int>(level * 110.0));
    case AugmentOp::kColor: return P::color(pixels, enhance());
    case AugmentOp::kColorIncreasing: return P::color(pixels, enhance_increasing());
    case AugmentOp::kContrast: return P::contrast(pixels, enhance());
    case AugmentOp::kContrastIncreasing: return P::contrast(pixels, enhance_increasing());
    case AugmentOp::kBrightness: return P::brightness(pixels, enhance());
    case AugmentOp::kBrightnessIncreasing: return P::brightness(pixels, enhance_increasing());
    case AugmentOp::kSharpness: return P::sharpness(pixels, enhance());
    case AugmentOp::kSharpnessIncreasing: return P::sharpness(pixels, enhance_increasing());
    case AugmentOp::kShearX: return P::shear_x(pixels, random_sign(level * 0.3), o.resample, fill);
    case AugmentOp::kShearY: return P::shear_y(pixels, random_sign(level * 0.3), o.resample, fill);
    case AugmentOp::kTranslateXRel: {
      const double offset = random_sign(level * o.translate_pct) * static_cast<double>(pixels.size(1));
      return P::translate_x(pixels, offset, o.resample, fill);
    }
    case AugmentOp::kTranslateYRel: {
      const double offset = random_sign(level * o.translate_pct) * static_cast<double>(pixels.size(0));
      return P::translate_y(pixels, offset, o.resample, fill);
    }
  }
  throw Error("RandAugment: unknown op");
}

}  // namespace mae::data
