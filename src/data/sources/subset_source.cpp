#include "mae/data/sources/subset_source.h"

#include "mae/core/error.h"

namespace mae::data {

SubsetSource::SubsetSource(std::shared_ptr<const Source> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  for (const int64_t i : indices_) MAE_CHECK(i >= 0 && i < base_->size(), "subset index ", i, " outside the ", base_->size(), " samples");
}

std::vector<int64_t> evenly_spaced(int64_t size, int64_t count) {
  if (count <= 0 || count >= size) count = size;
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[i] = i * size / count;
  return out;
}

}  // namespace mae::data
