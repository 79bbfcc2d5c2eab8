#include "mae/data/factory.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>

#include "mae/core/error.h"
#include "mae/data/array_source.h"
#include "mae/data/file_source.h"
#include "mae/data/memory_source.h"
#include "mae/data/shard_loader.h"
#include "mae/data/wds_source.h"
#include "read_file.h"

namespace mae::data {
namespace {

std::string files_key(Split split) { return split == Split::kTrain ? "data.train_files" : "data.val_files"; }
const std::vector<std::string>& split_files(const SourceOptions& o, Split split) {
  return split == Split::kTrain ? o.train_files : o.val_files;
}

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
std::vector<std::string> default_class_names(const SourceOptions& o, const std::vector<std::string>& files) {
  const std::string& file = o.class_names_file;
  const std::string& root = o.root;
  const std::string& source = o.source;
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

std::shared_ptr<const Source> build_source(const SourceOptions& o, Split split) {
  const std::string& source = o.source;
  const std::string& root = o.root;
  const std::string key = files_key(split);
  std::vector<std::string> files;
  for (const auto& f : split_files(o, split)) files.push_back(detail::join_root(root, f));
  // Before any file in it is read (a class names file, a list), so that the message names the folder.
  MAE_CHECK_USAGE(root.empty() || std::filesystem::is_directory(root), "data.root '", root,
                  "' does not exist or is not a folder; set data.root to the folder that holds the data");
  const bool folder_source = source == "folder" || source == "class_folder" || source == "npy_files" || source == "wds";
  MAE_CHECK_USAGE(!files.empty() || folder_source, key, " is empty: this configuration has no ", split_name(split),
                  " split; set ", key);
  if (source == "idx") {
    MAE_CHECK_USAGE(files.size() <= 2, key, " lists ", files.size(), " files; the idx source takes the images file ",
                    "and optionally the labels file");
    return load_idx(files[0], files.size() > 1 ? files[1] : "", default_class_names(o, files));
  }
  if (source == "cifar10" || source == "cifar100") {
    return load_cifar(files, source == "cifar10" ? CifarKind::kCifar10 : CifarKind::kCifar100,
                      default_class_names(o, files));
  }
  if (source == "list") return read_image_lists(root, split_files(o, split), default_class_names(o, files));
  if (source == "npy") {
    MAE_CHECK_USAGE(files.size() <= 2, key, " lists ", files.size(), " files; the npy source takes the images .npy ",
                    "and optionally the labels .npy");
    return load_npy(files[0], files.size() > 1 ? files[1] : "", parse_array_layout(o.array_layout),
                    default_class_names(o, files));
  }
  if (source == "npy_files") {
    // One folder (or none: data.root) is scanned; anything else is list files.
    const bool scan = files.empty() || (files.size() == 1 && std::filesystem::is_directory(files[0]));
    std::unique_ptr<FileSource> arrays = scan ? scan_image_folder(files.empty() ? root : files[0], FileKind::kArrays)
                                              : read_image_lists(root, split_files(o, split));
    arrays->set_array_layout(parse_array_layout(o.array_layout));
    return arrays;
  }
  if (source == "wds") {
    return std::make_shared<WdsSource>(load_shard_set(resolve_shards(root, split_files(o, split), key), o.wds_label_field),
                                       o.wds_label_field);
  }
  if (folder_source) {
    MAE_CHECK_USAGE(files.size() <= 1, key, " lists ", files.size(), " folders; the ", source,
                    " source takes one folder (relative to data.root; empty: data.root itself)");
    const std::string folder = files.empty() ? root : files[0];
    return source == "folder" ? std::shared_ptr<const Source>(scan_image_folder(folder))
                              : std::shared_ptr<const Source>(scan_class_folders(folder));
  }
  throw UsageError(str("data.source '", source,
                       "' is not one of idx, cifar10, cifar100, list, folder, class_folder, npy, npy_files, wds"));
}

// Labels must lie in the configured class range; class folders must match it exactly.
void check_labels(const SourceOptions& o, const Source& source) {
  const auto names = static_cast<int64_t>(source.class_names().size());
  MAE_CHECK_USAGE(o.class_names_file.empty() || names >= source.num_classes(), "data.class_names_file '", o.class_names_file,
                  "' names ", names, " classes but the labels of ", source.describe(0), " go up to ", source.num_classes() - 1,
                  "; give one name per line for every class, in label order");
  const int64_t configured = o.num_classes;
  MAE_CHECK_USAGE(configured >= 0, "data.num_classes ", configured, " must be >= 0 (0: from the data)");
  if (configured == 0 || source.num_classes() == 0) return;
  if (o.source == "class_folder") {
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

std::string cache_key(const SourceOptions& o, Split split) {
  std::string key = std::string(split_name(split)) + "\n" + o.source + "\n" + o.root + "\n" + o.class_names_file +
                    "\n" + o.array_layout + "\n" + o.wds_label_field;
  for (const auto& f : split_files(o, split)) key += "\n" + f;
  return key + "\n" + std::to_string(o.num_classes);
}

}  // namespace

const char* split_name(Split split) { return split == Split::kTrain ? "train" : "val"; }

void DataOptions::validate() const {
  const auto& t = transform;
  MAE_CHECK_USAGE(num_workers >= 0, "data.num_workers ", num_workers, " must be >= 0 (0: one per core)");
  MAE_CHECK_USAGE(prefetch_batches >= 1, "data.prefetch_batches ", prefetch_batches, " must be >= 1");
  MAE_CHECK_USAGE(wds_shuffle_buffer >= 0, "data.wds_shuffle_buffer ", wds_shuffle_buffer,
                  " must be >= 0 (0: no shuffle inside the shards)");
  MAE_CHECK_USAGE(source.num_classes >= 0, "data.num_classes ", source.num_classes, " must be >= 0 (0: from the data)");
  MAE_CHECK_USAGE(!t.mean.empty() && t.mean.size() == t.std.size(), "data.mean has ", t.mean.size(),
                  " values but data.std has ", t.std.size(), "; give one of each per channel");
  for (double s : t.std) MAE_CHECK_USAGE(s > 0, "data.std values must be positive, got ", s);
  MAE_CHECK_USAGE(t.scale_min > 0 && t.scale_min <= t.scale_max && t.scale_max <= 1, "data.crop_scale [", t.scale_min,
                  ", ", t.scale_max, "] must satisfy 0 < min <= max <= 1");
  MAE_CHECK_USAGE(t.ratio_min > 0 && t.ratio_min <= t.ratio_max, "data.crop_ratio [", t.ratio_min, ", ", t.ratio_max,
                  "] must satisfy 0 < min <= max");
  MAE_CHECK_USAGE(t.hflip >= 0 && t.hflip <= 1, "data.hflip ", t.hflip, " must lie in [0, 1]");
  MAE_CHECK_USAGE(t.eval_resize_ratio >= 1, "data.eval_resize_ratio ", t.eval_resize_ratio, " must be >= 1");
  MAE_CHECK_USAGE(t.reprob >= 0 && t.reprob <= 1, "data.reprob ", t.reprob, " must lie in [0, 1]");
  MAE_CHECK_USAGE(t.recount >= 1, "data.recount ", t.recount, " must be >= 1");
  MAE_CHECK_USAGE(t.pixel_range >= 0, "data.pixel_range ", t.pixel_range,
                  " must be >= 0 (0: by pixel type, 255 for uint8, 65535 for uint16, 1 for float)");
  parse_array_layout(source.array_layout);
}

std::shared_ptr<const Source> make_source(const SourceOptions& options, Split split) {
  // Reused while alive, so that the loader, num_classes and class_names share one load.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Source>> cache;
  const std::string key = cache_key(options, split);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto cached = cache[key].lock()) return cached;
  }
  auto source = build_source(options, split);
  check_labels(options, *source);
  std::lock_guard<std::mutex> lock(mutex);
  cache[key] = source;
  return source;
}

TransformOptions transform_options(const DataOptions& data, Split split, int64_t in_chans, int64_t img_h,
                                   int64_t img_w) {
  TransformOptions o = data.transform;
  o.channels = in_chans;
  o.height = img_h;
  o.width = img_w;
  o.train = split == Split::kTrain;
  if (!o.train) {  // the train-only augmentations
    const TransformOptions plain;
    o.auto_augment = plain.auto_augment;
    o.reprob = plain.reprob;
    o.remode = plain.remode;
    o.recount = plain.recount;
  }
  return o;
}

bool has_split(const SourceOptions& options, Split split) { return split == Split::kTrain || !options.val_files.empty(); }

LoaderOptions loader_options(const DataOptions& data, Split split) {
  LoaderOptions o;
  o.num_workers = data.num_workers;
  o.prefetch_batches = data.prefetch_batches;
  o.shuffle = o.drop_last = split == Split::kTrain;
  o.replace_unreadable = split == Split::kTrain;  // evaluation never scores one image in another's place
  o.prefetch_next_epoch = split == Split::kTrain;  // evaluation reads one epoch
  return o;
}

std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, int64_t in_chans, int64_t img_h, int64_t img_w,
                                    const LoaderOptions& options) {
  auto transform = std::make_shared<const SampleTransform>(transform_options(data, split, in_chans, img_h, img_w));
  return std::make_unique<Loader>(make_source(data.source, split), std::move(transform), options);
}

std::unique_ptr<BatchSource> make_train_batches(const DataOptions& data, int64_t in_chans, int64_t img_h, int64_t img_w,
                                                const LoaderOptions& options) {
  if (data.source.source != "wds") return make_loader(data, Split::kTrain, in_chans, img_h, img_w, options);
  const SourceOptions& o = data.source;
  auto transform = std::make_shared<const SampleTransform>(transform_options(data, Split::kTrain, in_chans, img_h, img_w));
  ShardSet shards = load_shard_set(resolve_shards(o.root, o.train_files, files_key(Split::kTrain)), o.wds_label_field);
  return std::make_unique<ShardLoader>(std::move(shards), std::move(transform), options,
                                       ShardStreamOptions{data.wds_shuffle_buffer, o.wds_label_field});
}

int64_t num_classes(const SourceOptions& options, Split split) {
  const int64_t configured = options.num_classes;
  const int64_t found = make_source(options, split)->num_classes();
  return found == 0 ? 0 : std::max(configured, found);
}

std::vector<std::string> class_names(const SourceOptions& options, Split split) {
  auto names = make_source(options, split)->class_names();
  const int64_t n = num_classes(options, split);
  for (int64_t i = static_cast<int64_t>(names.size()); i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace mae::data
