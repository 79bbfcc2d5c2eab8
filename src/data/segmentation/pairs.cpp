#include "mae/data/segmentation/pairs.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "data/sources/read_file.h"
#include "mae/core/error.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/codecs/image_decode.h"

namespace mae::data {
namespace fs = std::filesystem;

PairSource::PairSource(std::vector<SegmentationPair> pairs, bool reduce_zero_label)
    : pairs_(std::move(pairs)), reduce_zero_label_(reduce_zero_label) {
  MAE_CHECK_USAGE(!pairs_.empty(), "the segmentation set has no image; check data.root and data.train_files / data.val_files");
}

std::string PairSource::describe(int64_t index) const {
  const auto& p = pairs_[index];
  return p.origin == p.image ? p.image : p.origin + ": " + p.image;
}

RawImage PairSource::open_image(int64_t index) const { return read_image_file(pairs_[index].image, describe(index)); }

torch::Tensor PairSource::open_labels(int64_t index, int64_t height, int64_t width) const {
  const auto& p = pairs_[index];
  auto labels = decode_label_map(read_image_file(p.labels, describe(index) + " labels " + p.labels));
  if (labels.size(0) != height || labels.size(1) != width) {
    throw DataError(str(describe(index), ": the label map ", p.labels, " is ", labels.size(1), "x", labels.size(0),
                        " but the image is ", width, "x", height, "; a label map has one class per image pixel"));
  }
  return reduce_zero_label_ ? reduce_zero_label(labels) : labels;
}

torch::Tensor reduce_zero_label(const torch::Tensor& labels) {
  auto wide = labels.to(torch::kInt16);
  wide = torch::where(wide.eq(0), torch::full_like(wide, kIgnoreLabel), wide - 1);
  return wide.masked_fill(labels.to(torch::kInt16).eq(kIgnoreLabel), kIgnoreLabel).to(labels.scalar_type());
}

std::vector<SegmentationPair> scan_ade20k(const std::string& root, const std::string& split) {
  const fs::path images = fs::path(root) / "images" / split, annotations = fs::path(root) / "annotations" / split;
  MAE_CHECK_USAGE(fs::is_directory(images) && fs::is_directory(annotations), "the ADE20K layout needs ", images.string(),
                  " and ", annotations.string(), "; set data.root to the folder that holds images/ and annotations/ ",
                  "(ADEChallengeData2016), or list the pairs in files of `image labels` lines (data.layout=list)");
  std::vector<SegmentationPair> pairs;
  for (const auto& entry : fs::directory_iterator(images)) {
    if (!entry.is_regular_file() || !has_image_extension(entry.path().string())) continue;
    const fs::path labels = annotations / entry.path().filename().replace_extension(".png");
    MAE_CHECK_USAGE(fs::is_regular_file(labels), entry.path().string(), " has no label map ", labels.string(),
                    "; every image of the split needs one");
    pairs.push_back({entry.path().string(), labels.string(), entry.path().string()});
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.image < b.image; });
  return pairs;
}

std::vector<SegmentationPair> read_pair_lists(const std::string& root, const std::vector<std::string>& lists) {
  MAE_CHECK_USAGE(!lists.empty(), "no list files given; set data.train_files / data.val_files");
  std::vector<SegmentationPair> pairs;
  for (const auto& name : lists) {
    const std::string path = detail::join_root(root, name);
    const auto lines = detail::split_lines(detail::read_config_file(path, "data.train_files / data.val_files"));
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty() || lines[i][0] == '#') continue;
      std::istringstream fields(lines[i]);
      std::string image, labels, extra;
      fields >> image >> labels;
      MAE_CHECK_USAGE(!labels.empty() && !(fields >> extra), path, ":", i + 1, ": expected `image labels` (two paths), got '",
                      lines[i], "'");
      pairs.push_back({detail::join_root(root, image), detail::join_root(root, labels), str(path, ":", i + 1)});
    }
  }
  return pairs;
}

}  // namespace mae::data
