// The loader of a training run's train split: the data settings' threads and prefetch, the
// trainer's batch size and seed, this rank's shard, pinned memory for CUDA.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "mae/data/factory.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

std::unique_ptr<data::Loader> training_loader(const data::DataOptions& data, const train::TrainerOptions& trainer,
                                              int64_t in_chans, int64_t img_h, int64_t img_w, const torch::Device& device);

}  // namespace mae::tasks
