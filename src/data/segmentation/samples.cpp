#include "mae/data/segmentation/samples.h"

#include "mae/core/error.h"

namespace mae::data {

SegmentationSamples::SegmentationSamples(std::shared_ptr<const PairSource> pairs, std::shared_ptr<const JointTransform> transform)
    : pairs_(std::move(pairs)), transform_(std::move(transform)) {
  MAE_CHECK(pairs_ && transform_ && transform_->options().train,
            "SegmentationSamples needs pairs and the training transform (its crops make batches of one size)");
}

std::vector<int64_t> SegmentationSamples::image_shape() const {
  const auto& o = transform_->options();
  return {o.channels, o.crop_h, o.crop_w};
}

std::vector<int64_t> SegmentationSamples::label_shape() const {
  const auto& o = transform_->options();
  return {o.crop_h, o.crop_w};
}

void SegmentationSamples::write(int64_t index, SampleRng& rng, const Batch& batch, int64_t row) const {
  const RawImage image = pairs_->open_image(index);
  const auto labels = pairs_->open_labels(index, image.height, image.width);
  const JointSample sample = transform_->apply(image, labels, rng);
  batch.images[row].copy_(sample.image);
  batch.labels[row].copy_(sample.labels);
}

}  // namespace mae::data
