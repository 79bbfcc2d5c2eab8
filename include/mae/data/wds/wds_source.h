// Random access to the samples of WebDataset shards, for what reads a split by index rather than as
// a stream: the validation split, the k-NN monitor, `mae stats`, `mae visualize`. It reads every
// shard's headers (and labels) once at start-up; each open() is then one read of the image.
// Training streams the shards instead (shard_loader.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mae/data/sources/source.h"
#include "mae/data/wds/wds_sample.h"
#include "mae/data/wds/wds_shards.h"

namespace mae::data {

class WdsSource : public Source {
 public:
  // Throws UsageError when the shards hold no sample.
  WdsSource(const ShardSet& shards, const std::string& label_field);
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  int64_t label(int64_t index) const override { return samples_[index].label; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  RawImage open(int64_t index) const override;
  std::string describe(int64_t index) const override { return samples_[index].describe(); }
  const ShardSet& shards() const { return shards_; }  // what training streams (shard_loader.h)

 private:
  ShardSet shards_;
  std::vector<WdsSample> samples_;  // places only; images are read by open()
  std::vector<std::string> class_names_;
  int64_t num_classes_ = 0;
};

}  // namespace mae::data
