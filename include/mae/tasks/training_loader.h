// The loader of a training run's train split: the data settings' threads and prefetch, the
// trainer's batch size and seed, this rank's shard, pinned memory and uint8 batches for CUDA, the next
// epoch prefetched.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "mae/data/factory.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

// `train`: the train split's source (make_source), or null where nothing needs it indexed: wds
// shards are then streamed without reading every sample's header first (make_train_batches).
std::unique_ptr<data::BatchSource> training_loader(const data::DataOptions& data, std::shared_ptr<const data::Source> train,
                                                   const train::TrainerOptions& trainer, int64_t in_chans, int64_t img_h,
                                                   int64_t img_w, const torch::Device& device);

// Whether the train split can travel as uint8 batches (data.uint8_batches): no random erasing and
// an 8-bit first image of `train` (JPEG, WebP, 8-bit PNG/TIFF or arrays of bytes; wds shards are
// assumed 8-bit, and so is a null `train`).
bool uint8_batches_fit(const data::DataOptions& data, const data::Source* train, int64_t in_chans, int64_t img_h,
                       int64_t img_w);

// Warns when the first training image is RGB and the model grey (photos with the default
// model.in_chans=1 would otherwise train in grey without a word).
void warn_fewer_model_channels(const data::Source& train, int64_t in_chans);

// For a run's last line: "; N image reads skipped (...)" when the loader skipped unreadable files
// (counted per read, each file named once in the log), else "".
std::string skipped_reads(const data::BatchSource& loader);

// Throws UsageError unless data.mean / data.std hold one value per model channel; the message
// suggests model.in_chans first (colour images with the grey default are the usual cause).
void check_data_channels(const data::DataOptions& data, int64_t in_chans);

}  // namespace mae::tasks
