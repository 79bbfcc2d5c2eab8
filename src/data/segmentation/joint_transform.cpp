#include "mae/data/segmentation/joint_transform.h"

#include <algorithm>
#include <cmath>

#include "mae/core/error.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/segmentation/pairs.h"

namespace mae::data {
namespace F = torch::nn::functional;
namespace {

// mmseg's RandomCrop: tries until no class covers more than cat_max_ratio of the crop (10 at most).
constexpr int kCropTries = 10;

torch::Tensor resize_labels(const torch::Tensor& labels, int64_t h, int64_t w) {
  if (labels.size(0) == h && labels.size(1) == w) return labels;
  const auto wide = labels.to(torch::kFloat32).unsqueeze(0).unsqueeze(0);
  return F::interpolate(wide, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest))
      .squeeze(0)
      .squeeze(0)
      .to(labels.scalar_type());
}

// A crop's largest class share is below `limit` and it holds more than one class (mmseg's test).
bool mixed_enough(const torch::Tensor& labels, double limit) {
  const auto scored = labels.masked_select(labels.ne(kIgnoreLabel)).to(torch::kInt64);
  if (scored.numel() == 0) return false;
  const auto counts = torch::bincount(scored);
  const auto present = counts.masked_select(counts.gt(0));
  return present.numel() > 1 && present.max().item<double>() / present.sum().item<double>() < limit;
}

CropBox random_crop(int64_t h, int64_t w, int64_t crop_h, int64_t crop_w, SampleRng& rng) {
  const int64_t top = rng.randint(0, std::max<int64_t>(h - crop_h, 0) + 1);
  const int64_t left = rng.randint(0, std::max<int64_t>(w - crop_w, 0) + 1);
  return CropBox{top, left, std::min(crop_h, h - top), std::min(crop_w, w - left)};
}

torch::Tensor crop(const torch::Tensor& t, const CropBox& b) {
  return t.slice(0, b.top, b.top + b.height).slice(1, b.left, b.left + b.width);
}

torch::Tensor clip_round(const torch::Tensor& x) { return x.clamp(0, 255); }

// RGB [H, W, 3] float in 0..255 <-> HSV with hue in degrees, saturation 0..1, value 0..255.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> to_hsv(const torch::Tensor& rgb) {
  const auto r = rgb.select(2, 0), g = rgb.select(2, 1), b = rgb.select(2, 2);
  const auto v = std::get<0>(rgb.max(2)), lo = std::get<0>(rgb.min(2));
  const auto spread = v - lo;
  const auto safe = spread.clamp_min(1e-6);
  auto h = torch::where(v.eq(r), 60 * (g - b) / safe, torch::where(v.eq(g), 120 + 60 * (b - r) / safe, 240 + 60 * (r - g) / safe));
  h = torch::where(spread.gt(0), torch::remainder(h, 360), torch::zeros_like(h));
  const auto s = torch::where(v.gt(0), spread / v.clamp_min(1e-6), torch::zeros_like(v));
  return {h, s, v};
}

torch::Tensor from_hsv(const torch::Tensor& h, const torch::Tensor& s, const torch::Tensor& v) {
  const auto k = [&](double n) { return torch::remainder(n + h / 60, 6); };
  const auto channel = [&](double n) {
    const auto kn = k(n);
    return v - v * s * torch::clamp(torch::minimum(kn, 4 - kn), 0, 1);
  };
  return torch::stack({channel(5), channel(3), channel(1)}, 2);
}

}  // namespace

void JointTransformOptions::validate() const {
  MAE_CHECK_USAGE(crop_h > 0 && crop_w > 0, "the crop (model.img_size) ", crop_h, "x", crop_w, " must be positive");
  MAE_CHECK_USAGE(scale_long > 0 && scale_short > 0, "seg.scale ", scale_long, "x", scale_short, " must be positive");
  MAE_CHECK_USAGE(ratio_min > 0 && ratio_min <= ratio_max, "seg.ratio_range [", ratio_min, ", ", ratio_max,
                  "] must satisfy 0 < min <= max");
  MAE_CHECK_USAGE(cat_max_ratio > 0 && cat_max_ratio <= 1, "seg.cat_max_ratio ", cat_max_ratio, " must lie in (0, 1]");
  MAE_CHECK_USAGE(hflip >= 0 && hflip <= 1, "data.hflip ", hflip, " must lie in [0, 1]");
  MAE_CHECK_USAGE(static_cast<int64_t>(mean.size()) == channels && mean.size() == std.size(), "data.mean / data.std hold ",
                  mean.size(), " / ", std.size(), " values for ", channels, " channel(s); give one of each per channel");
}

std::pair<int64_t, int64_t> fit_size(int64_t height, int64_t width, double scale_long, double scale_short) {
  const double factor = std::min(scale_long / static_cast<double>(std::max(height, width)),
                                 scale_short / static_cast<double>(std::min(height, width)));
  return {std::max<int64_t>(1, std::llround(height * factor)), std::max<int64_t>(1, std::llround(width * factor))};
}

torch::Tensor photometric_distortion(const torch::Tensor& pixels, SampleRng& rng) {
  MAE_CHECK(pixels.scalar_type() == torch::kUInt8, "photometric distortion works on 8-bit pixels");
  auto x = pixels.to(torch::kFloat32);
  const bool colour = x.size(2) == 3;
  if (rng.randint(0, 2)) x = clip_round(x + rng.uniform(-32, 32));
  const bool contrast_first = rng.randint(0, 2) == 1;
  auto contrast = [&] {
    if (rng.randint(0, 2)) x = clip_round(x * rng.uniform(0.5, 1.5));
  };
  if (contrast_first) contrast();
  if (colour && rng.randint(0, 2)) {
    auto [h, s, v] = to_hsv(x);
    x = clip_round(from_hsv(h, (s * rng.uniform(0.5, 1.5)).clamp(0, 1), v));
  }
  if (colour && rng.randint(0, 2)) {
    auto [h, s, v] = to_hsv(x);
    x = clip_round(from_hsv(torch::remainder(h + 2.0 * static_cast<double>(rng.randint(-18, 18)), 360), s, v));
  }
  if (!contrast_first) contrast();
  return x.round().to(torch::kUInt8);
}

JointTransform::JointTransform(JointTransformOptions options)
    : options_((options.validate(), std::move(options))),
      normalize_(options_.mean, options_.std, options_.pixel_range) {}

JointSample JointTransform::apply(const RawImage& image, const torch::Tensor& labels, SampleRng& rng) const {
  const auto& o = options_;
  torch::Tensor pixels = decode_full(image, o.channels);
  const torch::ScalarType stored = pixels.scalar_type();
  const double ratio = o.train ? rng.uniform(o.ratio_min, o.ratio_max) : 1.0;
  const auto [h, w] = fit_size(pixels.size(0), pixels.size(1), o.scale_long * ratio, o.scale_short * ratio);
  pixels = resize(stored == torch::kUInt8 ? pixels : pixels.to(torch::kFloat32), h, w, Interpolation::kBilinear);
  torch::Tensor map = labels;
  bool flip = false;
  if (o.train) {
    MAE_CHECK(labels.defined(), "the training transform needs the label map");
    map = resize_labels(labels, h, w);
    CropBox box = random_crop(h, w, o.crop_h, o.crop_w, rng);
    for (int i = 0; i < kCropTries && o.cat_max_ratio < 1 && !mixed_enough(crop(map, box), o.cat_max_ratio); ++i) {
      box = random_crop(h, w, o.crop_h, o.crop_w, rng);
    }
    pixels = crop(pixels, box).contiguous();
    map = crop(map, box);
    flip = rng.uniform() < o.hflip;
    if (o.photometric && pixels.scalar_type() == torch::kUInt8) pixels = photometric_distortion(pixels, rng);
  }
  const int64_t ph = pixels.size(0), pw = pixels.size(1);
  auto out = torch::empty({o.channels, ph, pw}, torch::kFloat32);
  if (pixels.scalar_type() == torch::kUInt8) {
    normalize_.apply(pixels, flip, out.data_ptr<float>());
  } else {
    normalize_.apply_float(pixels.to(torch::kFloat32).contiguous(), stored, flip, out.data_ptr<float>());
  }
  if (!map.defined()) return {out, map};  // eval without labels (prediction)
  map = map.to(torch::kInt64);
  if (flip) map = map.flip({1});
  if (o.train && (ph < o.crop_h || pw < o.crop_w)) {
    out = F::pad(out, F::PadFuncOptions({0, o.crop_w - pw, 0, o.crop_h - ph}));
    map = F::pad(map.unsqueeze(0), F::PadFuncOptions({0, o.crop_w - pw, 0, o.crop_h - ph}).value(kIgnoreLabel)).squeeze(0);
  }
  return {out, map.contiguous()};
}

}  // namespace mae::data
