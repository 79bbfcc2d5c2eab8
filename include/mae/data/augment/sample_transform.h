// The per-sample pipeline of a split, in the order of timm's create_transform:
//   train: RandomResizedCrop(out, scale, ratio) + RandomHorizontalFlip(p) [+ RandAugment] + Normalize
//          [+ RandomErasing];
//   eval:  Resize(shorter side * resize_ratio) + CenterCrop(out) + Normalize.
// Any channel count; uint8 pixels take the 8-bit path, others (16-bit, float) are resampled as float32.
// The crop box is chosen from the image's native size before decoding, so a JPEG decodes only that
// box, scaled down in the DCT domain as far as the output size allows (crop_decode).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mae/data/codecs/image.h"
#include "mae/data/augment/rand_augment.h"
#include "mae/data/augment/random_erasing.h"
#include "mae/data/augment/sample_rng.h"
#include "mae/data/augment/transforms.h"

namespace mae::data {

struct TransformOptions {
  int64_t channels = 1, height = 28, width = 28;  // output [C, H, W]
  bool train = true;
  double scale_min = 0.2, scale_max = 1.0;        // RandomResizedCrop area fraction
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  Interpolation interpolation = Interpolation::kBicubic;
  double hflip = 0.5;                             // flip probability (train)
  double eval_resize_ratio = 256.0 / 224.0;
  bool crop_decode = true;
  std::vector<double> mean{0.2860}, std{0.3530};  // one value per output channel, of pixel / pixel_range
  double pixel_range = 0;                         // the value that becomes 1; 0: by type (255 for uint8, ...)
  // Fine-tuning augmentations (train only; off by default, and then the output is what it was without
  // them, bit for bit). RandAugment (8-bit grey or RGB images only) fills uncovered pixels with
  // round(255 * mean) and resamples with `interpolation`, as timm's create_transform sets it up.
  std::string auto_augment;                       // timm RandAugment string, e.g. "rand-m9-mstd0.5-inc1"; "": off
  double reprob = 0;                              // RandomErasing probability; 0: off
  ErasingMode remode = ErasingMode::kPixel;       // what erased boxes get
  int64_t recount = 1;                            // RandomErasing boxes per erased image: 1..recount
};

class SampleTransform {
 public:
  explicit SampleTransform(TransformOptions options);  // validates; throws UsageError
  const TransformOptions& options() const { return options_; }
  int64_t numel() const { return options_.channels * options_.height * options_.width; }
  // The box of `image` this sample reads (draws from rng in train mode).
  CropBox crop_box(const RawImage& image, SampleRng& rng) const;
  // Writes the transformed sample, [C, H, W] float32, to out. Throws DataError for unreadable data.
  void apply(const RawImage& image, SampleRng& rng, float* out) const;
  // The same sample before Normalize, [C, H, W] uint8 (see writes_uint8). Throws UsageError for an
  // image of more than 8 bits.
  void apply(const RawImage& image, SampleRng& rng, uint8_t* out) const;
  // Whether samples can leave as uint8, normalised later (data::to_device): everything but random
  // erasing, which works on normalised values.
  bool writes_uint8() const { return !erasing_; }
  // What the device does to such samples (Batch::normalize); throws UsageError unless writes_uint8.
  std::shared_ptr<const DeviceNormalize> device_normalize() const;
  // Row `row` of a batch of images, float32 or uint8.
  void write(const RawImage& image, SampleRng& rng, const torch::Tensor& images, int64_t row) const;
  const Normalize& normalize() const { return normalize_; }

 private:
  // The sample's crop, decoded, and (8-bit) resized and RandAugmented, not yet flipped when flip.
  struct Region {
    torch::Tensor pixels;  // [h, w, C or RGBX]
    bool flip = false;
  };
  Region region(const RawImage& image, SampleRng& rng) const;
  TransformOptions options_;
  Normalize normalize_;
  std::optional<RandAugment> rand_augment_;   // train with auto_augment set
  std::optional<RandomErasing> erasing_;      // train with reprob > 0
};

}  // namespace mae::data
