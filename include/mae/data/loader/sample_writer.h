// What a loader's worker does with one dataset index: read the sample, transform it with its own
// random stream and write it into one row of a batch. Classification writes an image and a class
// (a Source through a SampleTransform); segmentation an image and its label map.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mae/data/loader/batch_source.h"
#include "mae/data/augment/sample_rng.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/data/sources/source.h"

namespace mae::data {

class SampleWriter {
 public:
  virtual ~SampleWriter() = default;
  virtual int64_t size() const = 0;
  virtual std::string describe(int64_t index) const = 0;  // for messages: the file (and line) of a sample
  virtual std::vector<int64_t> image_shape() const = 0;   // of one row: [C, H, W]
  virtual std::vector<int64_t> label_shape() const = 0;   // of one row: {} a class, {H, W} a label map
  // Writes row `row` of batch.images (float32, or uint8 with device_normalize) and batch.labels
  // (int64). Throws DataError for a sample that cannot be read.
  virtual void write(int64_t index, SampleRng& rng, const Batch& batch, int64_t row) const = 0;
  // Set when rows may be written as uint8 and normalised on the device (LoaderOptions::uint8_images).
  virtual std::shared_ptr<const DeviceNormalize> device_normalize() const { return nullptr; }
};

// Classification: the image of a Source through a SampleTransform, and its class.
class ClassificationSamples : public SampleWriter {
 public:
  ClassificationSamples(std::shared_ptr<const Source> source, std::shared_ptr<const SampleTransform> transform);
  int64_t size() const override { return source_->size(); }
  std::string describe(int64_t index) const override { return source_->describe(index); }
  std::vector<int64_t> image_shape() const override;
  std::vector<int64_t> label_shape() const override { return {}; }
  void write(int64_t index, SampleRng& rng, const Batch& batch, int64_t row) const override;
  std::shared_ptr<const DeviceNormalize> device_normalize() const override { return transform_->device_normalize(); }

 private:
  std::shared_ptr<const Source> source_;
  std::shared_ptr<const SampleTransform> transform_;
};

}  // namespace mae::data
