// Image + label map pairs for semantic segmentation. A label map is an 8-bit grey or palette PNG
// whose pixel values are class indices (255: not scored, data::kIgnoreLabel); ADE20K's maps count
// "other" as 0 and its 150 classes from 1, which reduce_zero_label turns into 255 and 0..149.
//   ADE20K layout: root/images/<split>/NAME.jpg with root/annotations/<split>/NAME.png
//   list files:    `image labels` per line, paths relative to data.root
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/codecs/image.h"

namespace mae::data {

inline constexpr int64_t kIgnoreLabel = 255;

struct SegmentationPair {
  std::string image, labels;  // paths
  std::string origin;         // "list.txt:3" or the image path, for messages
};

class PairSource {
 public:
  // Throws UsageError when there is no pair.
  PairSource(std::vector<SegmentationPair> pairs, bool reduce_zero_label);
  int64_t size() const { return static_cast<int64_t>(pairs_.size()); }
  const SegmentationPair& pair(int64_t index) const { return pairs_[index]; }
  std::string describe(int64_t index) const;
  RawImage open_image(int64_t index) const;  // throws DataError
  // [H, W] uint8, reduce_zero_label applied; throws DataError when unreadable or of another size
  // than `image` (height x width).
  torch::Tensor open_labels(int64_t index, int64_t height, int64_t width) const;

 private:
  std::vector<SegmentationPair> pairs_;
  bool reduce_zero_label_;
};

// 0 -> 255 (not scored), k -> k - 1, 255 stays (ADE20K's reduce_zero_label).
torch::Tensor reduce_zero_label(const torch::Tensor& labels);

// The ADE20K layout: every image of root/images/<split> (sorted) with the .png of the same name
// in root/annotations/<split>. Throws UsageError naming the folder or the first image without labels.
std::vector<SegmentationPair> scan_ade20k(const std::string& root, const std::string& split);
// List files of `image labels` lines (blank lines and # comments skipped), relative to root.
std::vector<SegmentationPair> read_pair_lists(const std::string& root, const std::vector<std::string>& lists);

}  // namespace mae::data
