// Builds sources, transforms and loaders from DataOptions (the `data.*` settings).
// Every path in train_files / val_files is relative to root unless absolute; what the files are
// depends on the source kind:
//   idx:          images file, then labels file (optional)   e.g. train-images-idx3-ubyte.gz,...
//   cifar10/100:  binary batch files                         e.g. data_batch_1.bin,...
//   list:         list files (`path` or `path label` lines, paths relative to data.root)
//   folder:       folder(s) scanned recursively (unlabelled)
//   class_folder: folder(s) of class subfolders (ImageNet style), e.g. train
//   npy:          one images .npy [N, (C,) H, W (, C)], then a labels .npy (optional), memory-mapped
//   npy_files:    a folder scanned for .npy/.npz (unlabelled), or list files of .npy/.npz paths
//   wds:          WebDataset tar shards: brace patterns, a list file or a folder (wds_shards.h);
//                 training streams them (shard_loader.h), other uses read them by index (wds_source.h)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mae/core/choice.h"
#include "mae/data/sources/array_source.h"
#include "mae/data/loader/loader.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/data/sources/source.h"

namespace mae::data {

enum class SourceKind { kIdx, kCifar10, kCifar100, kList, kFolder, kClassFolder, kNpy, kNpyFiles, kWds };
inline constexpr core::Choice<SourceKind> kSourceKindNames[] = {
    {SourceKind::kIdx, "idx"},       {SourceKind::kCifar10, "cifar10"}, {SourceKind::kCifar100, "cifar100"},
    {SourceKind::kList, "list"},     {SourceKind::kFolder, "folder"},   {SourceKind::kClassFolder, "class_folder"},
    {SourceKind::kNpy, "npy"},       {SourceKind::kNpyFiles, "npy_files"}, {SourceKind::kWds, "wds"}};

// Where the samples come from. The defaults read Fashion-MNIST from the Debian package
// dataset-fashion-mnist.
struct SourceOptions {
  SourceKind kind = SourceKind::kIdx;
  std::string root = "/usr/share/datasets/fashion-mnist";
  std::vector<std::string> train_files = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"};
  std::vector<std::string> val_files = {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  int64_t num_classes = 0;       // 0: from the data; else labels must lie below it
  std::string class_names_file;  // one name per line; "": the set's own or built-in names
  ArrayLayout array_layout = ArrayLayout::kAuto;  // npy, npy_files
  std::string wds_label_field = "label";  // wds: the json member's label field when there is no cls member
  // One file per sample (list, folders, npy_files, wds), so that decoding threads pay off; the idx,
  // cifar and npy sets are read into (or mapped to) memory at start.
  bool reads_image_files() const;
};

// Everything the data pipeline of a command needs. `transform` holds the augmentation settings;
// its output size, channels and train flag are filled per split by transform_options().
struct DataOptions {
  SourceOptions source;
  TransformOptions transform;
  int num_workers = 0;  // loader threads; 0: one per core available
  int prefetch_batches = 4;
  bool uint8_batches = true;  // CUDA training: 8-bit images go to the GPU as uint8, normalised there
  int64_t wds_shuffle_buffer = 1000;  // wds, train: samples per loader thread's shuffle buffer
  void validate() const;  // throws UsageError naming the data.* key
};

enum class Split { kTrain, kVal };
inline constexpr core::Choice<Split> kSplitNames[] = {{Split::kVal, "val"}, {Split::kTrain, "train"}};
inline const char* split_name(Split split) { return core::choice_name(kSplitNames, split); }

// The split's source, read now (labels checked against num_classes). Throws UsageError for a missing
// file or folder, an empty dataset or a label outside the class range. Each call reads the split
// again: a command reads a split once and passes the source to what uses it.
std::shared_ptr<const Source> make_source(const SourceOptions& options, Split split);

// train: RandomResizedCrop(img_h x img_w, scale, ratio) + flip [+ RandAugment] + normalize
// [+ random erasing]; val: resize (eval_resize_ratio) + center crop + normalize, without the
// train-only augmentations. Output channels = in_chans.
TransformOptions transform_options(const DataOptions& options, Split split, int64_t in_chans, int64_t img_h,
                                   int64_t img_w);

// num_workers and prefetch_batches of `options`, shuffle and drop_last on for train and off for
// val; the caller sets batch size, seed, rank and pinning.
LoaderOptions loader_options(const DataOptions& options, Split split);

// The non-blank lines of a class names file (`root`-relative paths are joined by the caller);
// a missing or unreadable file throws UsageError naming data.class_names_file.
std::vector<std::string> read_class_names(const std::string& path);

// The class count of a split's source (from make_source): the configured data.num_classes when
// larger; 0 when unlabelled. class_names: one per class, numbers where the data names none.
int64_t num_classes(const SourceOptions& options, const Source& source);
std::vector<std::string> class_names(const SourceOptions& options, const Source& source);

// The configured splits of one command, each read (make_source) at its first use and then shared
// by what the command builds: its loaders, class count and names, k-NN bank.
class Splits {
 public:
  explicit Splits(SourceOptions options) : options_(std::move(options)) {}
  const SourceOptions& options() const { return options_; }
  const std::shared_ptr<const Source>& get(Split split);
  int64_t num_classes(Split split) { return data::num_classes(options_, *get(split)); }
  std::vector<std::string> class_names(Split split) { return data::class_names(options_, *get(split)); }

 private:
  SourceOptions options_;
  std::shared_ptr<const Source> read_[2];
};

// A loader over `source` (the split's, from make_source) with the split's transform; the overload
// without a source reads the split first.
std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, std::shared_ptr<const Source> source,
                                    int64_t in_chans, int64_t img_h, int64_t img_w, const LoaderOptions& options);
std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, int64_t in_chans, int64_t img_h, int64_t img_w,
                                    const LoaderOptions& options);

// The training batches: a Loader over `train` (the train split's source), or for data.source=wds
// the ShardLoader that streams the shards (options.drop_last is implied there) of `train` when it
// is the WdsSource of them, else of the configured shards, resolved here: indexing every sample of
// the shards (WdsSource) is not needed to stream them, so a run that needs no labels passes none.
std::unique_ptr<BatchSource> make_train_batches(const DataOptions& data, std::shared_ptr<const Source> train,
                                                int64_t in_chans, int64_t img_h, int64_t img_w, const LoaderOptions& options);

// Whether the configuration has that split: train always, val when data.val_files names something
// (the official pretraining has none; a folder source would otherwise read its train images again).
bool has_split(const SourceOptions& options, Split split);

// Dataset mean/std per channel of pixel / data.pixel_range (by type when 0: 255 for uint8, 65535
// for uint16, ...) over a source, decoding at native size, threaded (num_workers). max_samples <= 0:
// every sample; else that many, evenly spaced.
std::pair<std::vector<double>, std::vector<double>> compute_mean_std(const DataOptions& options, Split split,
                                                                     int64_t in_chans, int64_t max_samples);

}  // namespace mae::data
