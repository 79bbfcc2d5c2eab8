// What mae pretrain and mae finetune / linprobe do between building their task and fit(), in one
// place: check that a resumed checkpoint holds this model, build the train loader, settle
// train.precision=auto, restore the trainer's state; then, everything checked and loaded, clear
// the run folder (--overwrite), write config.yaml and log the run's set-up.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "mae/data/loader/batch_source.h"
#include "mae/data/factory.h"
#include "mae/tasks/model_facts.h"
#include "mae/train/trainer.h"

namespace mae::tasks {

// Notes on settings, key -> why ("train.precision" -> "auto: ..."), written as YAML comments.
using ConfigNotes = std::map<std::string, std::string>;
// Writes a command's resolved settings as YAML again, with `trainer` in place of the train.*,
// optim.* and log.* values they were resolved with: how a run's config.yaml says what a setting
// settled at the start (train.precision=auto) became. The settings edge provides it
// (config/settings.h); the resolved YAML without such settling is the options' config_yaml.
using RenderConfig = std::function<std::string(const train::TrainerOptions& trainer, const ConfigNotes& notes)>;

struct TrainingRunSpec {
  train::TrainerOptions* trainer = nullptr;  // train.precision=auto is settled here
  std::string* config_yaml = nullptr;        // the resolved config, written to the run folder (rendered again
                                             // by render_config once the precision is settled)
  const data::DataOptions* data = nullptr;
  int64_t in_chans = 0, img_h = 0, img_w = 0;  // the model's input
  ModelFacts model_facts;                      // what a resumed checkpoint must hold (check_resume_model)
  std::string resume;                          // "", "auto" or a checkpoint
  bool overwrite = false;                      // --overwrite
  RenderConfig render_config;                  // none: *config_yaml is written as it is
  std::shared_ptr<const data::Source> train_source;  // the train split's, or null (training_loader)
  bool label_maps = false;                     // segmentation: labels are [H, W] maps (the precision probe)
};

// The spec of a command whose options hold trainer, config_yaml and render_config, for a model
// whose options hold in_chans, img_h and img_w (spec.data and the rest are the caller's).
template <typename Options, typename ModelOptions>
TrainingRunSpec training_run_spec(Options& options, const ModelOptions& model, ModelFacts facts, std::string resume,
                                  bool overwrite) {
  TrainingRunSpec spec;
  spec.trainer = &options.trainer;
  spec.config_yaml = &options.config_yaml;
  spec.render_config = options.render_config;
  spec.in_chans = model.in_chans, spec.img_h = model.img_h, spec.img_w = model.img_w;
  spec.model_facts = std::move(facts);
  spec.resume = std::move(resume);
  spec.overwrite = overwrite;
  return spec;
}

struct TrainingRun {
  std::unique_ptr<data::BatchSource> loader;
  std::unique_ptr<train::Trainer> trainer;
  bool resumed = false;
};

// `loader`: the train batches when the task builds its own (segmentation); none: training_loader
// of spec.data.
TrainingRun start_training_run(const TrainingRunSpec& spec, train::Task& task, const torch::Device& device,
                               std::unique_ptr<data::BatchSource> loader = nullptr);

}  // namespace mae::tasks
