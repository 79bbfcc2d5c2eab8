// Builds sources, transforms and loaders from the `data.*` configuration keys.
// Every path in data.train_files / data.val_files is relative to data.root unless absolute; what
// the files are depends on data.source:
//   idx:          images file, then labels file (optional)   e.g. train-images-idx3-ubyte.gz,...
//   cifar10/100:  binary batch files                         e.g. data_batch_1.bin,...
//   list:         list files (`path` or `path label` lines, paths relative to data.root)
//   folder:       folder(s) scanned recursively (unlabelled)
//   class_folder: folder(s) of class subfolders (ImageNet style), e.g. train
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mae/core/config.h"
#include "mae/data/loader.h"
#include "mae/data/sample_transform.h"
#include "mae/data/source.h"

namespace mae::data {

// Declares every data.* key; the defaults train on Fashion-MNIST from the Debian package
// dataset-fashion-mnist.
void add_data_config(core::Config& config);

enum class Split { kTrain, kVal };
const char* split_name(Split split);

// The split's source (labels checked against data.num_classes). Throws UsageError for a missing
// file or folder, an empty dataset or a label outside the class range.
std::shared_ptr<const Source> make_source(const core::Config& config, Split split);

// train: RandomResizedCrop(img_h x img_w, data.crop_scale, data.crop_ratio) + flip
// [+ RandAugment data.auto_augment] + normalize [+ random erasing data.reprob/remode/recount];
// val: resize (data.eval_resize_ratio) + center crop + normalize. Output channels = in_chans.
TransformOptions transform_options(const core::Config& config, Split split, int64_t in_chans, int64_t img_h,
                                   int64_t img_w);

// LoaderOptions with the config's data.num_workers and data.prefetch_batches, shuffle and
// drop_last on for train and off for val; the caller sets batch size, seed, rank and pinning.
LoaderOptions loader_options(const core::Config& config, Split split);

std::unique_ptr<Loader> make_loader(const core::Config& config, Split split, int64_t in_chans, int64_t img_h,
                                    int64_t img_w, const LoaderOptions& options);

int64_t num_classes(const core::Config& config, Split split);  // 0 when unlabelled
std::vector<std::string> class_names(const core::Config& config, Split split);

// Dataset mean/std per channel (pixel values / 255) over a source, decoding at native size,
// threaded (data.num_workers). max_samples <= 0: every sample; else that many, evenly spaced.
std::pair<std::vector<double>, std::vector<double>> compute_mean_std(const core::Config& config, Split split,
                                                                     int64_t in_chans, int64_t max_samples);

}  // namespace mae::data
