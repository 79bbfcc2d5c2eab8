#include "mae/data/wds/wds_source.h"

#include <algorithm>

#include "mae/core/error.h"
#include "mae/core/log.h"

namespace mae::data {

WdsSource::WdsSource(const ShardSet& shards, const std::string& label_field) : shards_(shards), class_names_(shards.class_names) {
  int64_t max_label = -1;
  for (const auto& shard : shards.shards) {
    WdsShardReader reader(shard.path, label_field);
    WdsSample sample;
    while (reader.next(&sample, /*read_image=*/false)) {
      max_label = std::max(max_label, sample.label);
      samples_.push_back(std::move(sample));
    }
    if (reader.truncated()) core::log_warning(str("data: shard ", shard.path, " ends early (", reader.error(), ")"));
  }
  MAE_CHECK_USAGE(!samples_.empty(), "the shards ", shards.shards.front().path, ", ... hold no samples");
  num_classes_ = max_label < 0 ? 0 : std::max<int64_t>(max_label + 1, static_cast<int64_t>(class_names_.size()));
}

RawImage WdsSource::open(int64_t index) const {
  WdsSample sample = samples_[index];  // shares the open shard file
  sample.load_image();
  return sample.take_image();
}

}  // namespace mae::data
