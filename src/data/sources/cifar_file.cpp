// CIFAR-10 / CIFAR-100 binary batches (the "binary version" downloads): fixed-size records of
// label byte(s) then 1024 R, 1024 G, 1024 B bytes of a 32x32 image, row-major.
#include <cstring>

#include "mae/core/error.h"
#include "mae/data/sources/memory_source.h"
#include "data/sources/read_file.h"

namespace mae::data {

std::unique_ptr<MemorySource> load_cifar(const std::vector<std::string>& files, CifarKind kind,
                                         std::vector<std::string> class_names) {
  constexpr int64_t kSide = 32, kPlane = kSide * kSide;
  const int64_t label_bytes = kind == CifarKind::kCifar10 ? 1 : 2;
  const int64_t record = label_bytes + 3 * kPlane;
  const int64_t classes = kind == CifarKind::kCifar10 ? 10 : 100;
  MAE_CHECK_USAGE(!files.empty(), "no CIFAR batch files given; set data.train_files (e.g. data_batch_1.bin,...)");
  std::vector<std::string> contents;
  int64_t total = 0;
  for (const auto& path : files) {
    contents.push_back(detail::read_config_file(path, "data.train_files / data.val_files"));
    const int64_t size = static_cast<int64_t>(contents.back().size());
    MAE_CHECK_USAGE(size > 0 && size % record == 0, "'", path, "' is ", size, " bytes, not a whole number of ",
                    record, "-byte ", kind == CifarKind::kCifar10 ? "CIFAR-10" : "CIFAR-100",
                    " records; is data.source right (cifar10 vs cifar100) and is the file complete?");
    total += size / record;
  }
  auto pixels = torch::empty({total, kSide, kSide, 3}, torch::kUInt8);
  std::vector<int64_t> labels;
  labels.reserve(static_cast<size_t>(total));
  uint8_t* out = pixels.data_ptr<uint8_t>();
  for (size_t f = 0; f < files.size(); ++f) {
    const auto* p = reinterpret_cast<const unsigned char*>(contents[f].data());
    const int64_t n = static_cast<int64_t>(contents[f].size()) / record;
    for (int64_t i = 0; i < n; ++i, p += record, out += 3 * kPlane) {
      const int64_t label = p[label_bytes - 1];  // CIFAR-100: the fine label
      MAE_CHECK_USAGE(label < classes, "'", files[f], "': record ", i, " has label ", label, ", outside 0..",
                      classes - 1, "; is data.source right (cifar10 vs cifar100)?");
      labels.push_back(label);
      const unsigned char* planes = p + label_bytes;
      for (int64_t k = 0; k < kPlane; ++k) {
        out[3 * k] = planes[k];
        out[3 * k + 1] = planes[kPlane + k];
        out[3 * k + 2] = planes[2 * kPlane + k];
      }
    }
  }
  std::string origin = files.front();
  if (files.size() > 1) origin += str(" (+", files.size() - 1, " files)");
  return std::make_unique<MemorySource>(std::move(pixels), std::move(labels), std::move(class_names), origin);
}

}  // namespace mae::data
