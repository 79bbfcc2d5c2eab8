// IDX files (MNIST, Fashion-MNIST): big-endian magic 0x0000 <type 0x08 = ubyte> <dims>, then one
// big-endian uint32 per dimension, then the data.
#include <cstring>

#include "mae/core/error.h"
#include "mae/data/sources/memory_source.h"
#include "data/sources/read_file.h"

namespace mae::data {
namespace {

struct IdxArray {
  std::vector<int64_t> dims;
  std::string bytes;  // the whole file
  size_t offset = 0;  // start of the data
};

IdxArray parse_idx(const std::string& path, const std::string& key) {
  IdxArray array;
  array.bytes = detail::read_config_file(path, key);
  const auto* p = reinterpret_cast<const unsigned char*>(array.bytes.data());
  const size_t size = array.bytes.size();
  MAE_CHECK_USAGE(size >= 4 && p[0] == 0 && p[1] == 0, "'", path, "' is not an IDX file (bad magic); check ", key);
  MAE_CHECK_USAGE(p[2] == 0x08, "'", path, "': IDX element type 0x", std::hex, int{p[2]},
                  " is not supported; only unsigned bytes (0x08) are");
  const int ndims = p[3];
  MAE_CHECK_USAGE(ndims >= 1 && size >= 4 + 4 * static_cast<size_t>(ndims), "'", path, "': IDX header is truncated");
  int64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    const unsigned char* q = p + 4 + 4 * d;
    array.dims.push_back((int64_t{q[0]} << 24) | (int64_t{q[1]} << 16) | (int64_t{q[2]} << 8) | int64_t{q[3]});
    count *= array.dims.back();
  }
  array.offset = 4 + 4 * static_cast<size_t>(ndims);
  MAE_CHECK_USAGE(size - array.offset == static_cast<size_t>(count), "'", path, "': IDX header promises ", count,
                  " bytes of data but the file holds ", size - array.offset, "; the file is truncated or corrupt");
  return array;
}

}  // namespace

std::unique_ptr<MemorySource> load_idx(const std::string& images_path, const std::string& labels_path,
                                       std::vector<std::string> class_names) {
  const std::string key = "data.train_files / data.val_files";
  IdxArray images = parse_idx(images_path, key);
  MAE_CHECK_USAGE(images.dims.size() == 3 || images.dims.size() == 4, "'", images_path, "': an IDX image file has 3 ",
                  "dimensions [N, H, W] or 4 [N, H, W, C], this one has ", images.dims.size());
  const int64_t channels = images.dims.size() == 4 ? images.dims[3] : 1;
  auto pixels = torch::empty({images.dims[0], images.dims[1], images.dims[2], channels}, torch::kUInt8);
  std::memcpy(pixels.data_ptr<uint8_t>(), images.bytes.data() + images.offset, static_cast<size_t>(pixels.numel()));
  std::vector<int64_t> labels;
  if (!labels_path.empty()) {
    IdxArray label_file = parse_idx(labels_path, key);
    MAE_CHECK_USAGE(label_file.dims.size() == 1, "'", labels_path, "': an IDX label file has 1 dimension, this one has ",
                    label_file.dims.size(), "; is it an image file?");
    MAE_CHECK_USAGE(label_file.dims[0] == images.dims[0], "'", labels_path, "' holds ", label_file.dims[0],
                    " labels but '", images_path, "' holds ", images.dims[0], " images; pair the files of one split");
    const auto* values = reinterpret_cast<const unsigned char*>(label_file.bytes.data()) + label_file.offset;
    labels.assign(values, values + label_file.dims[0]);
  }
  return std::make_unique<MemorySource>(std::move(pixels), std::move(labels), std::move(class_names), images_path);
}

}  // namespace mae::data
