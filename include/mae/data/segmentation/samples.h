// Segmentation pairs as rows of a loader's batches (loader.h): images [C, crop_h, crop_w] and label
// maps [crop_h, crop_w] (int64, 255 not scored) through the training JointTransform.
#pragma once

#include <memory>

#include "mae/data/loader/loader.h"
#include "mae/data/segmentation/joint_transform.h"
#include "mae/data/segmentation/pairs.h"

namespace mae::data {

class SegmentationSamples : public SampleWriter {
 public:
  // transform: the training transform (options().train), whose crops are all one size.
  SegmentationSamples(std::shared_ptr<const PairSource> pairs, std::shared_ptr<const JointTransform> transform);
  int64_t size() const override { return pairs_->size(); }
  std::string describe(int64_t index) const override { return pairs_->describe(index); }
  std::vector<int64_t> image_shape() const override;
  std::vector<int64_t> label_shape() const override;
  void write(int64_t index, SampleRng& rng, const Batch& batch, int64_t row) const override;

 private:
  std::shared_ptr<const PairSource> pairs_;
  std::shared_ptr<const JointTransform> transform_;
};

}  // namespace mae::data
