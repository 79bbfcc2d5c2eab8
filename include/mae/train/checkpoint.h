// Checkpoints: two safetensors files per checkpoint, each written atomically.
//   <stem>.safetensors        the model's state dict under the official key names, with the
//                             resolved config and the model's shape facts as metadata, so the
//                             `safetensors` package loads it straight into the official code;
//   <stem>.state.safetensors  optimizer state (per parameter: AdamW's optim.<name>.{exp_avg,exp_avg_sq,step}
//                             or LARS's optim.<name>.momentum_buffer)
//                             and the training position as JSON metadata ("train_state").
// The state file is written first, so a complete weights file always has its state beside it.
#pragma once

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/optim/param_groups.h"
#include "mae/train/loss_scaler.h"

namespace mae::train {

struct TrainState {
  int64_t epoch = 0;          // epochs completed
  int64_t iteration = 0;      // optimizer steps taken
  int64_t skipped_steps = 0;  // non-finite steps skipped so far
  double lr_factor = 1.0;     // lowered after a non-finite rollback when configured to continue
  int64_t batches_done = 0;   // micro-batches of epoch `epoch` already trained (a checkpoint inside an epoch)
  double epoch_loss_sum = 0;  // with batches_done > 0: the losses of that epoch's steps so far and their
  int64_t epoch_loss_steps = 0;  // count, so that a resumed epoch's mean loss counts the whole epoch
  LossScaleState loss_scale;  // fp16's dynamic loss scale
};

// Metadata keys written with every checkpoint's weights.
constexpr const char* kFormatKey = "mae_format";
constexpr const char* kFormatValue = "mae-checkpoint-2";  // 1: facts as strings; 2: facts as JSON
constexpr const char* kConfigKey = "config";  // resolved YAML
constexpr const char* kFactsKey = "facts";    // typed JSON (tasks/model_facts.h)

struct CheckpointFiles {
  std::string weights, state;
  static CheckpointFiles from_stem(const std::string& stem) {
    return {stem + ".safetensors", stem + ".state.safetensors"};
  }
};

// Saves model weights (+ metadata) and, when given, optimizer state and position.
void save_checkpoint(const std::string& stem, const torch::nn::Module& model,
                     const std::map<std::string, std::string>& metadata,
                     const torch::optim::Optimizer* optimizer = nullptr, const std::vector<optim::ParamGroup>* groups = nullptr,
                     const TrainState* state = nullptr);

// Restores everything save_checkpoint wrote. Weights must match the model key for key and shape
// for shape; throws mae::Error naming the file and the first mismatch.
void load_checkpoint(const std::string& stem, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const std::vector<optim::ParamGroup>* groups, TrainState* state);

// Metadata of a checkpoint's weights file (config, shape facts).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& weights_path);

// "checkpoint-0007" for epoch 7; "checkpoint-last".
std::string checkpoint_stem(const std::string& run_dir, int64_t epoch);
std::string last_checkpoint_stem(const std::string& run_dir);
// Before checkpoint-last is overwritten: its files become checkpoint-prev (hard links, nothing is
// copied). Its two files are replaced one after the other, so a kill between the two would leave
// a mismatched pair; checkpoint-prev is then the newest valid checkpoint.
void keep_as_previous(const std::string& last_stem);

// The valid checkpoint in `run_dir` with the most optimizer steps; corrupt or truncated ones
// are reported on stderr by name and passed over. nullopt when there is none.
std::optional<std::string> find_latest_checkpoint(const std::string& run_dir);
// Every checkpoint of `run_dir` whose headers are valid, the most steps first (their data is
// checked, against its checksum, only when one is loaded).
std::vector<std::string> checkpoint_candidates(const std::string& run_dir);

// Deletes numbered checkpoints beyond the newest `keep` (keep <= 0 keeps all); never "last".
void prune_checkpoints(const std::string& run_dir, int64_t keep);

// Accepts "path/checkpoint-0003", "path/checkpoint-0003.safetensors" or ".state.safetensors".
std::string checkpoint_stem_of(const std::string& path);

}  // namespace mae::train
