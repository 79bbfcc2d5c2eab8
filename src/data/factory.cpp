#include "mae/data/factory.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "mae/core/error.h"
#include "mae/data/sources/array_source.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/sources/memory_source.h"
#include "mae/data/wds/shard_loader.h"
#include "mae/data/wds/wds_source.h"
#include "data/sources/read_file.h"

namespace mae::data {
namespace {

std::string files_key(Split split) { return split == Split::kTrain ? "data.train_files" : "data.val_files"; }
const std::vector<std::string>& split_files(const SourceOptions& o, Split split) {
  return split == Split::kTrain ? o.train_files : o.val_files;
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
  if (!file.empty()) return read_class_names(detail::join_root(root, file));
  if (o.kind == SourceKind::kCifar10) {
    const std::string meta = detail::join_root(root, "batches.meta.txt");
    return std::filesystem::is_regular_file(meta) ? read_class_names(meta) : cifar10_class_names();
  }
  if (o.kind == SourceKind::kCifar100) {
    const std::string meta = detail::join_root(root, "fine_label_names.txt");
    return std::filesystem::is_regular_file(meta) ? read_class_names(meta) : numbered_names(100);
  }
  if (o.kind == SourceKind::kIdx && files.size() == 2 && is_fashion_mnist(files[0])) return fashion_mnist_class_names();
  return {};
}

// The sources whose files are folders (one or none: data.root) rather than a list of files.
bool takes_a_folder(SourceKind kind) {
  return kind == SourceKind::kFolder || kind == SourceKind::kClassFolder || kind == SourceKind::kNpyFiles ||
         kind == SourceKind::kWds;
}

// The one file of a source that takes a data file and optionally a labels file (idx, npy).
void check_data_and_labels(const std::vector<std::string>& files, const std::string& key, const char* kind,
                           const char* what) {
  MAE_CHECK_USAGE(files.size() <= 2, key, " lists ", files.size(), " files; the ", kind, " source takes the ", what,
                  " and optionally the labels file");
}

std::shared_ptr<const Source> build_source(const SourceOptions& o, Split split) {
  const std::string& root = o.root;
  const std::string key = files_key(split);
  std::vector<std::string> files;
  for (const auto& f : split_files(o, split)) files.push_back(detail::join_root(root, f));
  // Before any file in it is read (a class names file, a list), so that the message names the folder.
  MAE_CHECK_USAGE(root.empty() || std::filesystem::is_directory(root), "data.root '", root,
                  "' does not exist or is not a folder; set data.root to the folder that holds the data");
  MAE_CHECK_USAGE(!files.empty() || takes_a_folder(o.kind), key, " is empty: this configuration has no ", split_name(split),
                  " split; set ", key);
  const auto names = [&] { return default_class_names(o, files); };
  const std::string folder = files.empty() ? root : files[0];
  if (o.kind == SourceKind::kFolder || o.kind == SourceKind::kClassFolder) {
    MAE_CHECK_USAGE(files.size() <= 1, key, " lists ", files.size(), " folders; the ",
                    core::choice_name(kSourceKindNames, o.kind),
                    " source takes one folder (relative to data.root; empty: data.root itself)");
  }
  switch (o.kind) {
    case SourceKind::kIdx:
      check_data_and_labels(files, key, "idx", "images file");
      return load_idx(files[0], files.size() > 1 ? files[1] : "", names());
    case SourceKind::kCifar10:
      return load_cifar(files, CifarKind::kCifar10, names());
    case SourceKind::kCifar100:
      return load_cifar(files, CifarKind::kCifar100, names());
    case SourceKind::kList:
      return read_image_lists(root, split_files(o, split), names());
    case SourceKind::kNpy:
      check_data_and_labels(files, key, "npy", "images .npy");
      return load_npy(files[0], files.size() > 1 ? files[1] : "", o.array_layout, names());
    case SourceKind::kNpyFiles: {
      // One folder (or none: data.root) is scanned; anything else is list files.
      const bool scan = files.empty() || (files.size() == 1 && std::filesystem::is_directory(files[0]));
      std::unique_ptr<FileSource> arrays =
          scan ? scan_image_folder(folder, FileKind::kArrays) : read_image_lists(root, split_files(o, split));
      arrays->set_array_layout(o.array_layout);
      return arrays;
    }
    case SourceKind::kWds:
      return std::make_shared<WdsSource>(load_shard_set(resolve_shards(root, split_files(o, split), key), o.wds_label_field),
                                         o.wds_label_field);
    case SourceKind::kFolder:
      return scan_image_folder(folder);
    case SourceKind::kClassFolder:
      return scan_class_folders(folder);
  }
  throw Error("unhandled data source kind");
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
  if (o.kind == SourceKind::kClassFolder) {
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

}  // namespace


std::vector<std::string> read_class_names(const std::string& path) {
  std::vector<std::string> names;
  for (auto& line : detail::split_lines(detail::read_config_file(path, "data.class_names_file"))) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

bool SourceOptions::reads_image_files() const {
  return kind == SourceKind::kList || kind == SourceKind::kFolder || kind == SourceKind::kClassFolder ||
         kind == SourceKind::kNpyFiles || kind == SourceKind::kWds;
}

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
}

std::shared_ptr<const Source> make_source(const SourceOptions& options, Split split) {
  auto source = build_source(options, split);
  check_labels(options, *source);
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

const std::shared_ptr<const Source>& Splits::get(Split split) {
  auto& source = read_[split == Split::kTrain ? 0 : 1];
  if (!source) source = make_source(options_, split);
  return source;
}

std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, std::shared_ptr<const Source> source,
                                    int64_t in_chans, int64_t img_h, int64_t img_w, const LoaderOptions& options) {
  auto transform = std::make_shared<const SampleTransform>(transform_options(data, split, in_chans, img_h, img_w));
  return std::make_unique<Loader>(std::move(source), std::move(transform), options);
}

std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, int64_t in_chans, int64_t img_h, int64_t img_w,
                                    const LoaderOptions& options) {
  return make_loader(data, split, make_source(data.source, split), in_chans, img_h, img_w, options);
}

std::unique_ptr<BatchSource> make_train_batches(const DataOptions& data, std::shared_ptr<const Source> train,
                                                int64_t in_chans, int64_t img_h, int64_t img_w, const LoaderOptions& options) {
  const SourceOptions& o = data.source;
  if (o.kind != SourceKind::kWds) {
    if (!train) train = make_source(o, Split::kTrain);
    return make_loader(data, Split::kTrain, std::move(train), in_chans, img_h, img_w, options);
  }
  auto transform = std::make_shared<const SampleTransform>(transform_options(data, Split::kTrain, in_chans, img_h, img_w));
  const auto* indexed = dynamic_cast<const WdsSource*>(train.get());
  ShardSet shards = indexed != nullptr ? indexed->shards()
                                       : load_shard_set(resolve_shards(o.root, o.train_files, files_key(Split::kTrain)),
                                                        o.wds_label_field);
  return std::make_unique<ShardLoader>(std::move(shards), std::move(transform), options,
                                       ShardStreamOptions{data.wds_shuffle_buffer, o.wds_label_field});
}

int64_t num_classes(const SourceOptions& options, const Source& source) {
  const int64_t found = source.num_classes();
  return found == 0 ? 0 : std::max(options.num_classes, found);
}

std::vector<std::string> class_names(const SourceOptions& options, const Source& source) {
  auto names = source.class_names();
  const int64_t n = num_classes(options, source);
  for (int64_t i = static_cast<int64_t>(names.size()); i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace mae::data
