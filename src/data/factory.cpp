#include "mae/data/factory.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>

#include "mae/core/error.h"
#include "mae/data/file_source.h"
#include "mae/data/memory_source.h"
#include "read_file.h"

namespace mae::data {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(begin, end - begin);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) items.push_back(item);
    begin = end + 1;
  }
  return items;
}

std::string files_key(Split split) { return split == Split::kTrain ? "data.train_files" : "data.val_files"; }

std::vector<std::string> read_class_names(const std::string& path) {
  std::vector<std::string> names;
  for (auto& line : detail::split_lines(detail::read_config_file(path, "data.class_names_file"))) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

std::vector<std::string> numbered_names(int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

bool is_fashion_mnist(const std::string& path) {
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("fashion") != std::string::npos;
}

// Class names: the configured file, else the set's own names file in data.root, else built in.
std::vector<std::string> default_class_names(const core::Config& config, const std::string& source,
                                             const std::vector<std::string>& files) {
  const std::string& file = config.get_string("data.class_names_file");
  const std::string root = config.get_string("data.root");
  if (!file.empty()) return read_class_names(detail::join_root(root, file));
  if (source == "cifar10") {
    const std::string meta = detail::join_root(root, "batches.meta.txt");
    return std::filesystem::is_regular_file(meta) ? read_class_names(meta) : cifar10_class_names();
  }
  if (source == "cifar100") {
    const std::string meta = detail::join_root(root, "fine_label_names.txt");
    return std::filesystem::is_regular_file(meta) ? read_class_names(meta) : numbered_names(100);
  }
  if (source == "idx" && files.size() == 2 && is_fashion_mnist(files[0])) return fashion_mnist_class_names();
  return {};
}

std::shared_ptr<const Source> build_source(const core::Config& config, Split split) {
  const std::string& source = config.get_string("data.source");
  const std::string root = config.get_string("data.root");
  const std::string key = files_key(split);
  std::vector<std::string> files;
  for (const auto& f : split_list(config.get_string(key))) files.push_back(detail::join_root(root, f));
  const bool folder_source = source == "folder" || source == "class_folder";
  MAE_CHECK_USAGE(!files.empty() || folder_source, key, " is empty: this configuration has no ", split_name(split),
                  " split; set ", key);
  if (source == "idx") {
    MAE_CHECK_USAGE(files.size() <= 2, key, " lists ", files.size(), " files; the idx source takes the images file ",
                    "and optionally the labels file");
    return load_idx(files[0], files.size() > 1 ? files[1] : "", default_class_names(config, source, files));
  }
  if (source == "cifar10" || source == "cifar100") {
    return load_cifar(files, source == "cifar10" ? CifarKind::kCifar10 : CifarKind::kCifar100,
                      default_class_names(config, source, files));
  }
  if (source == "list") return read_image_lists(root, split_list(config.get_string(key)));
  if (folder_source) {
    MAE_CHECK_USAGE(files.size() <= 1, key, " lists ", files.size(), " folders; the ", source,
                    " source takes one folder (relative to data.root; empty: data.root itself)");
    const std::string folder = files.empty() ? root : files[0];
    return source == "folder" ? std::shared_ptr<const Source>(scan_image_folder(folder))
                              : std::shared_ptr<const Source>(scan_class_folders(folder));
  }
  throw UsageError(str("data.source '", source, "' is not one of idx, cifar10, cifar100, list, folder, class_folder"));
}

// Labels must lie in the configured class range; class folders must match it exactly.
void check_labels(const core::Config& config, const Source& source) {
  const int64_t configured = config.get_int("data.num_classes");
  MAE_CHECK_USAGE(configured >= 0, "data.num_classes ", configured, " must be >= 0 (0: from the data)");
  if (configured == 0 || source.num_classes() == 0) return;
  if (config.get_string("data.source") == "class_folder") {
    MAE_CHECK_USAGE(source.num_classes() == configured, "data.num_classes is ", configured, " but ",
                    source.describe(0), "'s folder holds ", source.num_classes(),
                    " class folders; fix data.num_classes or the folder");
    return;
  }
  for (int64_t i = 0; i < source.size(); ++i) {
    const int64_t label = source.label(i);
    MAE_CHECK_USAGE(label < configured, source.describe(i), ": label ", label, " is outside data.num_classes = ",
                    configured, " (labels are 0..", configured - 1, "); fix the label or data.num_classes");
  }
}

std::string cache_key(const core::Config& config, Split split) {
  std::string key = split_name(split);
  for (const char* k : {"data.source", "data.root", "data.train_files", "data.val_files", "data.class_names_file"}) {
    key += "\n" + config.get_string(k);
  }
  return key + "\n" + std::to_string(config.get_int("data.num_classes"));
}

}  // namespace

const char* split_name(Split split) { return split == Split::kTrain ? "train" : "val"; }

void add_data_config(core::Config& config) {
  using core::ValueType;
  config.add("data.source", ValueType::kString, "idx",
             "where samples come from: idx, cifar10, cifar100, list, folder, class_folder");
  config.add("data.root", ValueType::kString, "/usr/share/datasets/fashion-mnist",
             "folder that data.train_files / data.val_files and list entries are relative to");
  config.add("data.train_files", ValueType::kString, "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz",
             "comma-separated training files: idx images[,labels]; cifar batch files; list files; "
             "the folder for folder/class_folder (empty: data.root)");
  config.add("data.val_files", ValueType::kString, "t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz",
             "the same for the validation split (empty: none)");
  config.add("data.num_classes", ValueType::kInt, "0",
             "number of classes; 0 takes it from the data (labels must lie below it)");
  config.add("data.class_names_file", ValueType::kString, "",
             "text file with one class name per line (empty: the set's own or built-in names)");
  config.add("data.mean", ValueType::kFloatList, "0.2860", "per-channel mean of pixel/255 (`mae stats` computes it)");
  config.add("data.std", ValueType::kFloatList, "0.3530", "per-channel std of pixel/255");
  config.add("data.crop_scale", ValueType::kFloatList, "0.2,1.0", "RandomResizedCrop area fraction range (train)");
  config.add("data.crop_ratio", ValueType::kFloatList, "0.75,1.3333333333333333",
             "RandomResizedCrop aspect ratio range (train)");
  config.add("data.interpolation", ValueType::kString, "bicubic", "resampling: bicubic or bilinear (antialiased)");
  config.add("data.hflip", ValueType::kFloat, "0.5", "horizontal flip probability (train)");
  config.add("data.eval_resize_ratio", ValueType::kFloat, "1.1428571428571428",
             "eval: resize to input size * ratio, then center crop (256/224 as in MAE; 1: no border cut)");
  config.add("data.crop_decode", ValueType::kBool, "true",
             "decode only the crop of a JPEG, DCT-scaled (false: decode whole images, then crop)");
  config.add("data.auto_augment", ValueType::kString, "",
             "train: timm RandAugment after the flip, e.g. rand-m9-mstd0.5-inc1 (MAE fine-tuning); empty: off");
  config.add("data.reprob", ValueType::kFloat, "0", "train: random erasing probability after Normalize (0: off)");
  config.add("data.remode", ValueType::kString, "pixel",
             "train: what erased boxes get: pixel (noise per pixel), rand (a colour per box), const (0)");
  config.add("data.recount", ValueType::kInt, "1", "train: erased boxes per erased image, drawn from 1..recount");
  config.add("data.num_workers", ValueType::kInt, "0", "loader threads (0: one per core available)");
  config.add("data.prefetch_batches", ValueType::kInt, "4", "batches prepared ahead of the trainer");
}

std::shared_ptr<const Source> make_source(const core::Config& config, Split split) {
  // Reused while alive, so that the loader, num_classes and class_names share one load.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Source>> cache;
  const std::string key = cache_key(config, split);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto cached = cache[key].lock()) return cached;
  }
  auto source = build_source(config, split);
  check_labels(config, *source);
  std::lock_guard<std::mutex> lock(mutex);
  cache[key] = source;
  return source;
}

TransformOptions transform_options(const core::Config& config, Split split, int64_t in_chans, int64_t img_h,
                                   int64_t img_w) {
  TransformOptions o;
  o.channels = in_chans;
  o.height = img_h;
  o.width = img_w;
  o.train = split == Split::kTrain;
  const auto scale = config.get_float_list("data.crop_scale");
  const auto ratio = config.get_float_list("data.crop_ratio");
  MAE_CHECK_USAGE(scale.size() == 2, "data.crop_scale needs two values [min, max], got ", scale.size());
  MAE_CHECK_USAGE(ratio.size() == 2, "data.crop_ratio needs two values [min, max], got ", ratio.size());
  o.scale_min = scale[0];
  o.scale_max = scale[1];
  o.ratio_min = ratio[0];
  o.ratio_max = ratio[1];
  o.interpolation = parse_interpolation(config.get_string("data.interpolation"));
  o.hflip = config.get_float("data.hflip");
  o.eval_resize_ratio = config.get_float("data.eval_resize_ratio");
  o.crop_decode = config.get_bool("data.crop_decode");
  o.mean = config.get_float_list("data.mean");
  o.std = config.get_float_list("data.std");
  if (o.train) {
    o.auto_augment = config.get_string("data.auto_augment");
    o.reprob = config.get_float("data.reprob");
    o.remode = config.get_string("data.remode");
    o.recount = config.get_int("data.recount");
  }
  return o;
}

LoaderOptions loader_options(const core::Config& config, Split split) {
  LoaderOptions o;
  o.num_workers = static_cast<int>(config.get_int("data.num_workers"));
  o.prefetch_batches = static_cast<int>(config.get_int("data.prefetch_batches"));
  MAE_CHECK_USAGE(o.num_workers >= 0, "data.num_workers ", o.num_workers, " must be >= 0 (0: one per core)");
  o.shuffle = o.drop_last = split == Split::kTrain;
  return o;
}

std::unique_ptr<Loader> make_loader(const core::Config& config, Split split, int64_t in_chans, int64_t img_h,
                                    int64_t img_w, const LoaderOptions& options) {
  auto transform = std::make_shared<const SampleTransform>(transform_options(config, split, in_chans, img_h, img_w));
  return std::make_unique<Loader>(make_source(config, split), std::move(transform), options);
}

int64_t num_classes(const core::Config& config, Split split) {
  const int64_t configured = config.get_int("data.num_classes");
  const int64_t found = make_source(config, split)->num_classes();
  return found == 0 ? 0 : std::max(configured, found);
}

std::vector<std::string> class_names(const core::Config& config, Split split) {
  auto names = make_source(config, split)->class_names();
  const int64_t n = num_classes(config, split);
  for (int64_t i = static_cast<int64_t>(names.size()); i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace mae::data
