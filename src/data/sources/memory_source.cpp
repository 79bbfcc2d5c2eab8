#include "mae/data/sources/memory_source.h"

#include <algorithm>

#include "mae/core/error.h"

namespace mae::data {

MemorySource::MemorySource(torch::Tensor images, std::vector<int64_t> labels, std::vector<std::string> class_names,
                           std::string origin)
    : images_(std::move(images)), labels_(std::move(labels)), class_names_(std::move(class_names)),
      origin_(std::move(origin)) {
  MAE_CHECK(images_.dim() == 4 && is_pixel_type(images_.scalar_type()), origin_,
            ": in-memory images must be [N, H, W, C] uint8, uint16, int16 or float32, got ", images_.sizes(), " ",
            images_.scalar_type());
  MAE_CHECK_USAGE(images_.size(0) > 0, origin_, ": holds no images; check the data files");
  MAE_CHECK(labels_.empty() || static_cast<int64_t>(labels_.size()) == images_.size(0), origin_, ": ",
            labels_.size(), " labels for ", images_.size(0), " images; the label file belongs to another set");
  if (!labels_.empty()) {
    const auto [lo, hi] = std::minmax_element(labels_.begin(), labels_.end());
    MAE_CHECK_USAGE(*lo >= 0, origin_, ": label ", *lo, " is negative");
    num_classes_ = class_names_.empty() ? *hi + 1 : static_cast<int64_t>(class_names_.size());
    MAE_CHECK_USAGE(*hi < num_classes_, origin_, ": label ", *hi, " is outside the ", num_classes_,
                    " class names given");
  }
}

RawImage MemorySource::open(int64_t index) const {
  RawImage image;
  image.format = ImageFormat::kPixels;
  image.pixels = images_[index];
  image.height = images_.size(1);
  image.width = images_.size(2);
  image.channels = images_.size(3);
  image.origin = origin_;  // decoded pixels cannot fail to read; describe(index) names the record
  return image;
}

std::string MemorySource::describe(int64_t index) const { return str(origin_, "#", index); }

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

std::vector<std::string> cifar10_class_names() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

}  // namespace mae::data
