#include "mae/data/augment/sample_transform.h"

#include <algorithm>
#include <cmath>

#include "mae/core/error.h"
#include "mae/data/codecs/image_decode.h"

namespace mae::data {
namespace {

TransformOptions validated(TransformOptions o) {
  MAE_CHECK_USAGE(o.channels >= 1, "data: the model has ", o.channels, " input channels; set model.in_chans >= 1");
  MAE_CHECK_USAGE(o.height > 0 && o.width > 0, "data: output size ", o.height, "x", o.width, " must be positive");
  MAE_CHECK_USAGE(0 < o.scale_min && o.scale_min <= o.scale_max, "data.crop_scale [", o.scale_min, ", ",
                  o.scale_max, "] must satisfy 0 < min <= max (area fractions, e.g. [0.2, 1.0])");
  MAE_CHECK_USAGE(0 < o.ratio_min && o.ratio_min <= o.ratio_max, "data.crop_ratio [", o.ratio_min, ", ",
                  o.ratio_max, "] must satisfy 0 < min <= max (e.g. [0.75, 1.3333])");
  MAE_CHECK_USAGE(0 <= o.hflip && o.hflip <= 1, "data.hflip ", o.hflip, " is a probability; use 0..1");
  MAE_CHECK_USAGE(o.eval_resize_ratio >= 1, "data.eval_resize_ratio ", o.eval_resize_ratio,
                  " must be >= 1 (1 = no border cut; 256/224 = 1.142857 as in MAE)");
  MAE_CHECK_USAGE(static_cast<int64_t>(o.mean.size()) == o.channels && o.std.size() == o.mean.size(),
                  "data.mean / data.std have ", o.mean.size(), " / ", o.std.size(), " values but the model has ",
                  o.channels, " channels; give one per channel (`mae stats` computes them)");
  MAE_CHECK_USAGE(0 <= o.reprob && o.reprob <= 1, "data.reprob ", o.reprob, " is a probability; use 0..1 (0: off)");
  MAE_CHECK_USAGE(o.recount >= 1, "data.recount ", o.recount, " must be >= 1 (boxes per erased image)");
  MAE_CHECK_USAGE(o.pixel_range >= 0, "data.pixel_range ", o.pixel_range, " must be >= 0 (0: by pixel type)");
  MAE_CHECK_USAGE(o.auto_augment.empty() || !o.train || o.channels == 1 || o.channels == 3, "data.auto_augment '",
                  o.auto_augment, "' works on grey or RGB 8-bit images, but the model has ", o.channels,
                  " channels; set data.auto_augment to empty");
  return o;
}

// timm's create_transform: fill = round(255 * mean) per channel, resampling = the crop's interpolation.
RandAugment make_rand_augment(const TransformOptions& o) {
  RandAugmentOptions base;
  base.fill.clear();
  for (double m : o.mean) base.fill.push_back(static_cast<uint8_t>(std::clamp(std::nearbyint(255.0 * m), 0.0, 255.0)));
  base.resample = o.interpolation == Interpolation::kBicubic ? pil::Resample::kBicubic : pil::Resample::kBilinear;
  return RandAugment(parse_rand_augment(o.auto_augment, base, "data.auto_augment"));
}

RandomErasing make_random_erasing(const TransformOptions& o) {
  RandomErasingOptions e;
  e.probability = o.reprob;
  e.mode = o.remode;
  e.max_count = o.recount;
  return RandomErasing(e);
}

}  // namespace

SampleTransform::SampleTransform(TransformOptions options)
    : options_(validated(std::move(options))), normalize_(options_.mean, options_.std, options_.pixel_range) {
  if (!options_.train) return;
  if (!options_.auto_augment.empty()) rand_augment_ = make_rand_augment(options_);
  if (options_.reprob > 0) erasing_ = make_random_erasing(options_);
}

CropBox SampleTransform::crop_box(const RawImage& image, SampleRng& rng) const {
  const auto& o = options_;
  if (o.train) {
    return random_resized_crop_params(image.height, image.width, o.scale_min, o.scale_max, o.ratio_min, o.ratio_max,
                                      rng);
  }
  return center_crop_box(image.height, image.width, o.height, o.width, o.eval_resize_ratio);
}

SampleTransform::Region SampleTransform::region(const RawImage& image, SampleRng& rng) const {
  const auto& o = options_;
  const CropBox box = crop_box(image, rng);
  MAE_CHECK_USAGE(image.format != ImageFormat::kJpeg || o.channels == 1 || o.channels == 3, image.origin,
                  ": JPEG images give 1 (grey) or 3 (RGB) channels but the model takes ", o.channels,
                  " (model.in_chans); set model.in_chans to 1 or 3, or use multi-band TIFF or .npy data");
  // JPEG colour decodes straight to RGBX, which the resampler reads without repacking.
  const int64_t channels = o.channels == 3 && image.format == ImageFormat::kJpeg ? 4 : o.channels;
  Region r;
  if (o.crop_decode) {
    r.pixels = read_region(image, box, channels, choose_reduce(image, box, o.height, o.width));
  } else {  // decode everything, then crop: what torchvision does
    r.pixels = decode_full(image, channels)
                   .slice(0, box.top, box.top + box.height)
                   .slice(1, box.left, box.left + box.width);
  }
  r.flip = o.train && o.hflip > 0 && rng.uniform() < o.hflip;
  if (rand_augment_ && r.pixels.scalar_type() == torch::kUInt16 && o.pixel_range == 0) {
    // RandAugment's ops are PIL's 8-bit ones: 16-bit photos (PNG) go down to 8 bits as libpng's
    // png_set_scale_16 does, (v * 255 + 32895) >> 16, which is what they gave before 16 bits were kept.
    r.pixels = (r.pixels.to(torch::kInt32) * 255 + 32895).div(65536, "floor").to(torch::kUInt8);
  }
  if (r.pixels.scalar_type() == torch::kUInt8) {
    r.pixels = resize(r.pixels, o.height, o.width, o.interpolation);
    if (rand_augment_) {
      // RandAugment sees the flipped image (flip comes first in timm); RGBX loses its padding byte.
      if (r.pixels.size(2) != o.channels) r.pixels = r.pixels.slice(2, 0, o.channels);
      if (r.flip) r.pixels = r.pixels.flip({1});
      r.pixels = rand_augment_->apply(r.pixels, rng);
      r.flip = false;
    }
  } else {
    MAE_CHECK_USAGE(!rand_augment_, image.origin, ": data.auto_augment works on 8-bit images (and 16-bit ones with ",
                    "data.pixel_range 0), this one is ", r.pixels.scalar_type(), "; set data.auto_augment to empty");
  }
  return r;
}

void SampleTransform::apply(const RawImage& image, SampleRng& rng, float* out) const {
  const auto& o = options_;
  const Region r = region(image, rng);
  if (r.pixels.scalar_type() == torch::kUInt8) {
    normalize_.apply(r.pixels, r.flip, out);
  } else {  // 16-bit and float data: resampled and normalised as float32
    // Planar float32 ([C, h, w] contiguous, seen as [h, w, C]): LibTorch's float resampler is about
    // 20 % faster on planes than on channels-last data.
    auto planes = torch::empty({r.pixels.size(2), r.pixels.size(0), r.pixels.size(1)}, torch::kFloat32);
    planes.copy_(r.pixels.permute({2, 0, 1}));
    const auto pixels = resize(planes.permute({1, 2, 0}), o.height, o.width, o.interpolation);
    normalize_.apply_float(pixels, r.pixels.scalar_type(), r.flip, out);
  }
  if (erasing_) erasing_->apply(out, o.channels, o.height, o.width, rng);
}

void SampleTransform::apply(const RawImage& image, SampleRng& rng, uint8_t* out) const {
  MAE_CHECK(writes_uint8(), "SampleTransform: random erasing works on normalised pixels, not uint8 ones");
  const Region r = region(image, rng);
  MAE_CHECK_USAGE(r.pixels.scalar_type() == torch::kUInt8, image.origin, " has ", r.pixels.scalar_type(),
                  " pixels, but this run's batches are 8-bit (data.uint8_batches, chosen from the first image); set ",
                  "data.uint8_batches=false for data that mixes 8-bit images with others");
  to_planes(r.pixels, options_.channels, r.flip, out);
}

std::shared_ptr<const DeviceNormalize> SampleTransform::device_normalize() const {
  MAE_CHECK_USAGE(writes_uint8(), "data: random erasing (data.reprob ", options_.reprob, ") works on normalised pixels; ",
                  "set data.uint8_batches=false");
  return normalize_.device_form();
}

void SampleTransform::write(const RawImage& image, SampleRng& rng, const torch::Tensor& images, int64_t row) const {
  if (images.scalar_type() == torch::kUInt8) {
    apply(image, rng, images.data_ptr<uint8_t>() + row * numel());
  } else {
    apply(image, rng, images.data_ptr<float>() + row * numel());
  }
}

}  // namespace mae::data
