// NumPy arrays as images: layouts, per-sample .npy / .npz files and the memory-mapped `npy` source.
#include <cctype>

#include "mae/core/error.h"
#include "mae/data/sources/array_source.h"
#include "mae/io/byte_source.h"
#include "mae/io/npy.h"
#include "mae/io/zip_reader.h"

namespace mae::data {
namespace {

// The image dimensions of `array` are its last 3: channels first unless the last is smaller.
bool channels_last(const torch::Tensor& array, ArrayLayout layout) {
  if (layout != ArrayLayout::kAuto) return layout == ArrayLayout::kChannelsLast;
  return array.size(-1) < array.size(-3);
}

// The .npy inside an uncompressed .npz: its only entry, or the one named image, x or arr_0.
torch::Tensor map_npz_image(const std::string& path) {
  const auto file = io::FileSource::open(path);
  const io::ZipArchive archive(*file);
  const io::ZipEntry* entry = nullptr;
  for (const char* name : {"image.npy", "x.npy", "arr_0.npy"}) {
    if ((entry = archive.find(name)) != nullptr) break;
  }
  if (entry == nullptr && archive.entries().size() == 1) entry = &archive.entries().front();
  MAE_CHECK(entry != nullptr, path, ": the .npz holds ", archive.entries().size(),
            " arrays; name the image one `image` (numpy.savez(path, image=a)) or save a single array");
  MAE_CHECK(entry->method == 0, path, ": compressed .npz (numpy.savez_compressed) is not read; save with numpy.savez ",
            "or numpy.save (uncompressed arrays are memory-mapped)");
  return io::map_npy(path, entry->data_offset, entry->size);
}

}  // namespace

torch::Tensor image_view(const torch::Tensor& array, ArrayLayout layout, const std::string& origin) {
  if (!is_pixel_type(array.scalar_type())) {
    throw DataError(str(origin, ": array element type ", array.scalar_type(), " is not an image type (uint8, uint16, ",
                        "int16, float32); convert it with a.astype(numpy.float32) or similar"));
  }
  if (array.dim() == 2) return array.unsqueeze(2);
  if (array.dim() != 3) {
    throw DataError(str(origin, ": an image array is [H, W], [C, H, W] or [H, W, C]; this one is ", array.sizes()));
  }
  return channels_last(array, layout) ? array : array.permute({1, 2, 0});
}

RawImage read_array_file(const std::string& path, ArrayLayout layout, const std::string& origin) {
  torch::Tensor array;
  try {
    const bool npz = !path.empty() && std::tolower(static_cast<unsigned char>(path.back())) == 'z';  // .npz, not .npy
    array = npz ? map_npz_image(path) : io::map_npy(path);
  } catch (const DataError&) {
    throw;
  } catch (const Error& e) {  // a bad file is a bad sample: the loader skips it
    throw DataError(str(origin, ": ", e.what()));
  }
  RawImage image;
  image.format = ImageFormat::kPixels;
  image.pixels = image_view(array, layout, origin);
  image.height = image.pixels.size(0);
  image.width = image.pixels.size(1);
  image.channels = image.pixels.size(2);
  image.origin = origin;
  if (image.height <= 0 || image.width <= 0 || image.channels <= 0) {
    throw DataError(str(origin, ": empty image array ", array.sizes()));
  }
  return image;
}

std::unique_ptr<MemorySource> load_npy(const std::string& images_path, const std::string& labels_path, ArrayLayout layout,
                                       std::vector<std::string> class_names) {
  const std::string key = "data.train_files / data.val_files";
  torch::Tensor images;
  try {
    images = io::map_npy(images_path);
  } catch (const Error& e) {
    throw UsageError(str(e.what(), " (", key, ")"));
  }
  MAE_CHECK_USAGE(is_pixel_type(images.scalar_type()), "'", images_path, "': element type ", images.scalar_type(),
                  " is not an image type (uint8, uint16, int16, float32); convert it with a.astype(...)");
  MAE_CHECK_USAGE(images.dim() == 3 || images.dim() == 4, "'", images_path, "': the npy source reads [N, H, W], ",
                  "[N, C, H, W] or [N, H, W, C] arrays; this one is ", images.sizes());
  if (images.dim() == 3) {
    images = images.unsqueeze(3);
  } else if (!channels_last(images, layout)) {
    images = images.permute({0, 2, 3, 1});
  }
  std::vector<int64_t> labels;
  if (!labels_path.empty()) {
    torch::Tensor values;
    try {
      values = io::map_npy(labels_path);
    } catch (const Error& e) {
      throw UsageError(str(e.what(), " (", key, ")"));
    }
    MAE_CHECK_USAGE(values.dim() == 1 && !values.is_floating_point(), "'", labels_path,
                    "': labels must be a 1-D integer array, got ", values.sizes(), " ", values.scalar_type());
    MAE_CHECK_USAGE(values.size(0) == images.size(0), "'", labels_path, "' holds ", values.size(0), " labels but '",
                    images_path, "' holds ", images.size(0), " images; pair the files of one split");
    const auto as_long = values.to(torch::kInt64).contiguous();
    labels.assign(as_long.data_ptr<int64_t>(), as_long.data_ptr<int64_t>() + as_long.numel());
  }
  return std::make_unique<MemorySource>(std::move(images), std::move(labels), std::move(class_names), images_path);
}

}  // namespace mae::data
