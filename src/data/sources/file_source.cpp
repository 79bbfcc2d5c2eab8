#include "mae/data/sources/file_source.h"

#include <algorithm>
#include <set>

#include "mae/core/error.h"
#include "mae/data/codecs/image_decode.h"

namespace mae::data {

FileSource::FileSource(std::vector<FileEntry> entries, std::vector<std::string> list_files,
                       std::vector<std::string> class_names, std::string origin)
    : entries_(std::move(entries)), list_files_(std::move(list_files)), class_names_(std::move(class_names)) {
  MAE_CHECK_USAGE(!entries_.empty(), origin, ": no images found; check data.root and the data files");
  int64_t max_label = -1;
  for (const auto& e : entries_) max_label = std::max(max_label, e.label);
  num_classes_ = max_label < 0 ? 0 : std::max<int64_t>(max_label + 1, static_cast<int64_t>(class_names_.size()));
}

RawImage FileSource::open(int64_t index) const {
  const std::string& path = entries_[index].path;
  if (has_array_extension(path)) return read_array_file(path, array_layout_, describe(index));
  return read_image_file(path, describe(index));
}

std::string FileSource::describe(int64_t index) const {
  const FileEntry& e = entries_[index];
  if (e.list < 0) return e.path;
  return str(list_files_[e.list], ":", e.line, ": ", e.path);
}

namespace {

std::string lower_extension(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return "";
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace

bool has_image_extension(const std::string& path) {
  static const std::set<std::string> images{"jpg", "jpeg", "png", "webp", "tif", "tiff"};
  return images.count(lower_extension(path)) > 0;
}

bool has_array_extension(const std::string& path) {
  static const std::set<std::string> arrays{"npy", "npz"};
  return arrays.count(lower_extension(path)) > 0;
}

}  // namespace mae::data
