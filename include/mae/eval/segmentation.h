// Semantic segmentation metrics as mmsegmentation reports them on ADE20K: one confusion matrix
// over every scored pixel (pixels labelled ignore_index are not scored), from which
//   IoU_k = TP_k / (TP_k + FP_k + FN_k), mIoU = mean over the classes present (in labels or
//   predictions: a class with no pixel in either is NaN and left out), per-class accuracy
//   TP_k / (TP_k + FN_k), mAcc its mean over the classes in the labels, aAcc = sum TP / pixels.
// Also the two ways of running a segmenter over an image of any size (whole and sliding window),
// and the label map / colour overlay pictures of its predictions.
// Legend: N batch, C channels, H x W image, K classes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace mae::eval {

inline constexpr int64_t kIgnoreIndex = 255;

struct SegmentationMetrics {
  int64_t pixels = 0;                // scored pixels
  double miou = 0, macc = 0, aacc = 0;  // per cent
  std::vector<double> iou, acc;      // per class, per cent; NaN where undefined
  torch::Tensor confusion;           // [K, K] int64: rows true class, columns predicted
};

class SegmentationMeter {
 public:
  explicit SegmentationMeter(int64_t num_classes, int64_t ignore_index = kIgnoreIndex);
  // predicted, labels: [..., H, W] integer maps of the same shape; labels equal to ignore_index are
  // skipped; another label outside [0, K) throws Error (a label map of another class set).
  void add(const torch::Tensor& predicted, const torch::Tensor& labels);
  SegmentationMetrics result() const;
  void all_reduce();  // sums every rank's matrix (distributed evaluation); a no-op in one process

 private:
  int64_t num_classes_, ignore_index_;
  torch::Tensor confusion_;  // [K, K] int64 on the CPU
};

// The metrics of a confusion matrix (rows true, columns predicted).
SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion);

// {"pixels", "mIoU", "mAcc", "aAcc", "per_class": {name: {"IoU", "Acc"}}} (NaN as null).
std::string segmentation_json(const SegmentationMetrics& metrics, const std::vector<std::string>& names);
// "class,IoU,Acc" then one row per class (empty cells where undefined).
void write_segmentation_csv(const std::string& path, const SegmentationMetrics& metrics, const std::vector<std::string>& names);

// [N, C, h, w] -> [N, K, h', w'] logits at any stride; the result is resized to the input.
using SegmentFn = std::function<torch::Tensor(const torch::Tensor&)>;
// The whole image at once, zero-padded at the bottom and right to a multiple of size_divisor (a
// ViT's patch); the logits resized (bilinear, align_corners=False) to the padded size and cut back
// to [N, K, H, W].
torch::Tensor whole_inference(const SegmentFn& forward, const torch::Tensor& images, int64_t size_divisor = 1);
// mmseg's slide mode: crops of crop_h x crop_w every stride (the last flush with the border), each
// crop's logits resized to the crop and summed, divided by the number of crops that covered each
// pixel. A side shorter than the crop is one crop, zero-padded (the normalised mean) at the bottom
// or right for the model and cut back after.
torch::Tensor slide_inference(const SegmentFn& forward, const torch::Tensor& images, int64_t crop_h, int64_t crop_w,
                              int64_t stride_h, int64_t stride_w, int64_t num_classes);

// A colour per class (class 0..K-1), ADE20K-like: distinct, deterministic; ignore_index is black.
torch::Tensor class_palette(int64_t num_classes);  // [K, 3] uint8
// label map [H, W] (integers) -> [H, W, 3] uint8 colours; ignored pixels black.
torch::Tensor colorize(const torch::Tensor& labels, const torch::Tensor& palette, int64_t ignore_index = kIgnoreIndex);
// image [H, W, 3] uint8 blended with the colours of `labels` (alpha: the colours' weight).
torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& labels, const torch::Tensor& palette, double alpha = 0.5,
                      int64_t ignore_index = kIgnoreIndex);

}  // namespace mae::eval
