#include "mae/eval/band_picture.h"

#include <algorithm>
#include <string>

#include "mae/core/error.h"

namespace mae::eval {
namespace {

// [N, K, H, W] -> the same with each of the K bands mapped from [low, high] of `reference`
// ([N, K, H, W], the originals) to [0, 1].
struct Stretch {
  torch::Tensor low, high;  // [1, K, 1, 1]
  explicit Stretch(const torch::Tensor& reference) {
    const auto per_band = reference.transpose(0, 1).reshape({reference.size(1), -1});  // [K, N*H*W]
    low = torch::quantile(per_band, kStretchLow, /*dim=*/1).reshape({1, -1, 1, 1});
    high = torch::quantile(per_band, kStretchHigh, /*dim=*/1).reshape({1, -1, 1, 1});
    high = torch::maximum(high, low + 1e-6);  // a flat band stays flat instead of dividing by 0
  }
  torch::Tensor operator()(const torch::Tensor& x) const { return ((x - low) / (high - low)).clamp(0, 1); }
};

}  // namespace

void check_picture_channels(const std::vector<int64_t>& channels, int64_t in_chans) {
  MAE_CHECK_USAGE(channels.empty() || channels.size() == 1 || channels.size() == 3, "visualize.channels lists ",
                  channels.size(), " bands; give 3 for an RGB composite (e.g. 3,2,1), 1 for one grey band, or none");
  for (int64_t band : channels) {
    MAE_CHECK_USAGE(band >= 1 && band <= in_chans, "visualize.channels: band ", band, " is outside 1..", in_chans,
                    " (bands are numbered from 1, as GDAL and QGIS count; the model has ", in_chans, " channels)");
  }
}

int64_t images_in_picture(int64_t num_images, int64_t in_chans, const std::vector<int64_t>& channels) {
  if (!channels.empty() || in_chans == 1 || in_chans == 3) return num_images;
  return std::min(num_images, std::max<int64_t>(1, kMaxPictureRows / in_chans));
}

Reconstruction picture_bands(const Reconstruction& r, const std::vector<int64_t>& channels) {
  const int64_t n = r.original.size(0), c = r.original.size(1), h = r.original.size(2), w = r.original.size(3);
  check_picture_channels(channels, c);
  if (channels.empty() && (c == 1 || c == 3)) return r;
  Reconstruction out = r;
  torch::Tensor* panels[] = {&out.original, &out.masked, &out.prediction, &out.pasted};
  if (!channels.empty()) {
    std::vector<int64_t> index;
    for (int64_t band : channels) index.push_back(band - 1);
    const auto bands = torch::tensor(index, torch::kInt64);
    for (auto* p : panels) *p = p->index_select(1, bands);
  }
  const Stretch stretch(out.original);
  for (auto* p : panels) *p = stretch(*p);
  if (channels.empty()) {  // one grey row per band
    for (auto* p : panels) *p = p->reshape({n * c, 1, h, w});
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t b = 0; b < c; ++b) out.row_labels.push_back("image " + std::to_string(i + 1) + " band " + std::to_string(b + 1));
    }
  }
  return out;
}

}  // namespace mae::eval
