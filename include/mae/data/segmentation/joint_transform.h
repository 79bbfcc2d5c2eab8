// The augmentation of image + label map pairs, as mmsegmentation's ADE20K pipeline:
//   train: RandomResize (the image fitted into scale x U(ratio), keeping its aspect) -> RandomCrop
//          (re-drawn up to 10 times while one class covers more than cat_max_ratio of the crop) ->
//          RandomFlip -> PhotoMetricDistortion (image only) -> Normalize -> pad to the crop size
//          (image 0 after Normalize, labels 255);
//   eval:  the image fitted into the scale (Resize keep_ratio) and normalised; the labels stay at
//          full resolution, where predictions are scored.
// Image and labels share every geometric step; images resample bilinearly (antialiased, as the
// classification pipeline; mmseg's cv2 is not), label maps by nearest neighbour.
// Legend: C channels, H x W image, h x w output.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mae/data/codecs/image.h"
#include "mae/data/augment/sample_rng.h"
#include "mae/data/augment/transforms.h"

namespace mae::data {

struct JointTransformOptions {
  int64_t channels = 3;
  int64_t crop_h = 512, crop_w = 512;
  double scale_long = 2048, scale_short = 512;  // the image is fitted into long x short sides
  double ratio_min = 0.5, ratio_max = 2.0;       // train: the scale times U(ratio_min, ratio_max)
  double cat_max_ratio = 0.75;                   // train: 1 accepts any crop
  double hflip = 0.5;
  bool photometric = true;                       // train, 8-bit images: brightness, contrast, saturation, hue
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};  // of pixel / pixel_range
  double pixel_range = 0;                        // 0: by type (255 for uint8)
  bool train = true;
  void validate() const;  // throws UsageError naming the data.* key
};

struct JointSample {
  torch::Tensor image;   // [C, h, w] float32, normalised
  torch::Tensor labels;  // [h, w] int64 (255: not scored)
};

class JointTransform {
 public:
  explicit JointTransform(JointTransformOptions options);
  const JointTransformOptions& options() const { return options_; }
  // labels: [H, W] integer map of `image`'s size (eval: may be undefined, then so is the result's).
  // Throws DataError for an unreadable image.
  JointSample apply(const RawImage& image, const torch::Tensor& labels, SampleRng& rng) const;

 private:
  JointTransformOptions options_;
  Normalize normalize_;
};

// The size (h, w) of an H x W image fitted into long x short sides, keeping its aspect ratio
// (mmcv's rescale_size: factor min(long / max(H, W), short / min(H, W)), sides rounded).
std::pair<int64_t, int64_t> fit_size(int64_t height, int64_t width, double scale_long, double scale_short);

// mmseg's PhotoMetricDistortion on [H, W, 3] (or any C for brightness and contrast) uint8 pixels:
// brightness +U(-32, 32), contrast x U(0.5, 1.5) (before or after the colour steps), saturation
// x U(0.5, 1.5), hue + U{-18..17} (OpenCV's half-degrees); each step with probability 1/2, clipped
// to 0..255 after each.
torch::Tensor photometric_distortion(const torch::Tensor& pixels, SampleRng& rng);

}  // namespace mae::data
