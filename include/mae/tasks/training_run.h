// What mae pretrain and mae finetune / linprobe do between building their task and fit(), in one
// place: check that a resumed checkpoint holds this model, build the train loader, settle
// train.precision=auto, restore the trainer's state; then, everything checked and loaded, clear
// the run folder (--overwrite), write config.yaml and log the run's set-up.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mae/data/batch_source.h"
#include "mae/data/factory.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

struct TrainingRunSpec {
  train::TrainerOptions* trainer = nullptr;  // train.precision=auto is settled here
  std::string* config_yaml = nullptr;        // ... and in this resolved config, written to the run folder
  const data::DataOptions* data = nullptr;
  int64_t in_chans = 0, img_h = 0, img_w = 0;  // the model's input
  nlohmann::json model_facts;                  // what a resumed checkpoint must hold (check_resume_model)
  std::string resume;                          // "", "auto" or a checkpoint
  bool overwrite = false;                      // --overwrite
};

struct TrainingRun {
  std::unique_ptr<data::BatchSource> loader;
  std::unique_ptr<train::Trainer> trainer;
  bool resumed = false;
};

TrainingRun start_training_run(const TrainingRunSpec& spec, train::Task& task, const torch::Device& device);

}  // namespace mae::tasks
