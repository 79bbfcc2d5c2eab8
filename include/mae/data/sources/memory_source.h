// Sources whose pixels are one tensor: IDX (MNIST / Fashion-MNIST) and CIFAR binary batches decoded
// once into memory at start-up, and memory-mapped NumPy arrays (array_source.h). Opening a sample
// is a view, no copy, so tiny images cost almost nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/sources/source.h"

namespace mae::data {

class MemorySource : public Source {
 public:
  // images: [N, H, W, C] of a pixel type (image.h), any strides (a view of a mapped file stays one);
  // labels: N values >= 0, or empty when unlabelled; class_names may be
  // empty (then num_classes is max label + 1). origin names the file(s) for messages.
  MemorySource(torch::Tensor images, std::vector<int64_t> labels, std::vector<std::string> class_names,
               std::string origin);
  int64_t size() const override { return images_.size(0); }
  int64_t label(int64_t index) const override { return labels_.empty() ? -1 : labels_[index]; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  RawImage open(int64_t index) const override;
  std::string describe(int64_t index) const override;
  const torch::Tensor& images() const { return images_; }

 private:
  torch::Tensor images_;
  std::vector<int64_t> labels_;
  std::vector<std::string> class_names_;
  int64_t num_classes_ = 0;
  std::string origin_;
};

// IDX files as MNIST publishes them (gzipped or raw): images ubyte with 3 dims [N, H, W] or 4
// [N, H, W, C]; labels ubyte with 1 dim [N]. labels_path may be empty (unlabelled).
std::unique_ptr<MemorySource> load_idx(const std::string& images_path, const std::string& labels_path,
                                       std::vector<std::string> class_names = {});

// CIFAR binary batches: CIFAR-10 records are <label><3072 pixels>, CIFAR-100 records
// <coarse label><fine label><3072 pixels> (fine labels are used); pixels are R, G, B planes of 32x32.
enum class CifarKind { kCifar10, kCifar100 };
std::unique_ptr<MemorySource> load_cifar(const std::vector<std::string>& files, CifarKind kind,
                                         std::vector<std::string> class_names = {});

// Names for well-known sets, used when no class-names file is configured.
std::vector<std::string> fashion_mnist_class_names();
std::vector<std::string> cifar10_class_names();

}  // namespace mae::data
