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

#include "mae/data/loader.h"
#include "mae/data/sample_transform.h"
#include "mae/data/source.h"

namespace mae::data {

// Where the samples come from. The defaults read Fashion-MNIST from the Debian package
// dataset-fashion-mnist.
struct SourceOptions {
  std::string source = "idx";  // idx, cifar10, cifar100, list, folder, class_folder, npy, npy_files, wds
  std::string root = "/usr/share/datasets/fashion-mnist";
  std::vector<std::string> train_files = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"};
  std::vector<std::string> val_files = {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  int64_t num_classes = 0;       // 0: from the data; else labels must lie below it
  std::string class_names_file;  // one name per line; "": the set's own or built-in names
  std::string array_layout = "auto";  // npy, npy_files: auto, channels_first, channels_last
  std::string wds_label_field = "label";  // wds: the json member's label field when there is no cls member
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
const char* split_name(Split split);

// The split's source (labels checked against num_classes). Throws UsageError for a missing file or
// folder, an empty dataset or a label outside the class range.
std::shared_ptr<const Source> make_source(const SourceOptions& options, Split split);

// train: RandomResizedCrop(img_h x img_w, scale, ratio) + flip [+ RandAugment] + normalize
// [+ random erasing]; val: resize (eval_resize_ratio) + center crop + normalize, without the
// train-only augmentations. Output channels = in_chans.
TransformOptions transform_options(const DataOptions& options, Split split, int64_t in_chans, int64_t img_h,
                                   int64_t img_w);

// num_workers and prefetch_batches of `options`, shuffle and drop_last on for train and off for
// val; the caller sets batch size, seed, rank and pinning.
LoaderOptions loader_options(const DataOptions& options, Split split);

std::unique_ptr<Loader> make_loader(const DataOptions& data, Split split, int64_t in_chans, int64_t img_h, int64_t img_w,
                                    const LoaderOptions& options);

// The training batches: make_loader's Loader, or for data.source=wds the ShardLoader that streams
// the shards (options.drop_last is implied there).
std::unique_ptr<BatchSource> make_train_batches(const DataOptions& data, int64_t in_chans, int64_t img_h, int64_t img_w,
                                                const LoaderOptions& options);

// Whether the configuration has that split: train always, val when data.val_files names something
// (the official pretraining has none; a folder source would otherwise read its train images again).
bool has_split(const SourceOptions& options, Split split);
int64_t num_classes(const SourceOptions& options, Split split);  // 0 when unlabelled
std::vector<std::string> class_names(const SourceOptions& options, Split split);

// Dataset mean/std per channel of pixel / data.pixel_range (by type when 0: 255 for uint8, 65535
// for uint16, ...) over a source, decoding at native size, threaded (num_workers). max_samples <= 0:
// every sample; else that many, evenly spaced.
std::pair<std::vector<double>, std::vector<double>> compute_mean_std(const DataOptions& options, Split split,
                                                                     int64_t in_chans, int64_t max_samples);

}  // namespace mae::data
