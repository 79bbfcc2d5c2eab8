// The settings edge: where every command's settings get their values. For each key the value is
// the last one given by, in order,
//   1. the built-in default (the option struct's initial value, e.g. tasks::PretrainOptions()),
//   2. the checkpoint the command starts from, when it is one of ours (its model facts, and for
//      inference and visualize also its data settings),
//   3. the --config YAML file,
//   4. each --set key=value, in order.
// The result is validated as a whole (types, ranges, lists vs scalars, channel counts) before the
// command writes anything, and handed down as the typed option structs of each area; no code below
// this edge reads a string key. Each resolved struct carries `config_yaml`: the same settings
// written back from the structs, which the run prints and saves.
#pragma once

#include <string>
#include <vector>

#include "mae/config/config.h"
#include "mae/tasks/classify.h"
#include "mae/tasks/inference.h"
#include "mae/tasks/pretrain.h"
#include "mae/tasks/segment.h"

namespace mae::config {

// What the user gave on the command line.
struct UserSettings {
  std::string file;               // --config FILE ("": none)
  std::vector<std::string> sets;  // --set key=value, in order
};

// A file the command line or the settings name must exist: UsageError (exit 2) naming `what`
// otherwise. "" passes (nothing named).
void check_named_file(const std::string& path, const std::string& what);

// Every key of a command with its default and help (`--help` lists them).
Config pretrain_schema();
Config classify_schema(bool linprobe);
Config inference_schema();
Config segment_schema();

// mae pretrain. With `resume` ("auto" or a checkpoint path) the run's own saved settings are layer
// 2: the config.yaml of the run folder (auto), or the config stored in the checkpoint.
tasks::PretrainOptions resolve_pretrain(const UserSettings& user, const std::string& resume = "");
// mae stats: the pretraining settings, with only the data checked (its point is to find data.mean/std).
tasks::PretrainOptions resolve_stats(const UserSettings& user);

// mae finetune / linprobe. `init_flag` (--init) wins over finetune.init; when the weights are one of
// our checkpoints, their model facts (patch size, channels, sizes, image size) form layer 2. The
// data is not read here: model.num_classes 0 is settled from the data when the run starts.
// `resume` as for resolve_pretrain: the run's own settings (which name its finetune.init) lie under
// the user's.
tasks::ClassifyOptions resolve_classify(bool linprobe, const UserSettings& user, const std::string& init_flag = "",
                                        const std::string& resume = "");

// mae segment. As resolve_classify: `init_flag` (--init) wins over seg.init, whose model facts give
// the encoder's shape (its input size is model.img_size, the crop); `resume` puts the run's own
// settings under the user's.
tasks::SegmentOptions resolve_segment(const UserSettings& user, const std::string& init_flag = "",
                                      const std::string& resume = "");
// mae segment-eval / segment-predict: the settings stored in a `mae segment` checkpoint, under the
// user's (e.g. data.root, data.val_files, seg.inference). Refuses other files.
tasks::SegmentOptions resolve_segment_checkpoint(const std::string& checkpoint, const UserSettings& user);

// mae eval / predict / knn / embed. Layer 2 is our checkpoint's model facts (with_head: also class
// count, pooling and head kind; knn.pool = mean for a fine-tuned global-pool model) and the data it
// was trained on. `input`: a folder or list file of images that replaces the val split (list paths
// relative to `root`, default the list's folder).
struct ImageInput {
  std::string input, root;
};
tasks::InferenceOptions resolve_inference(const std::string& checkpoint, bool with_head, const UserSettings& user,
                                          const ImageInput& images = {});

// mae visualize: layer 2 is the pretraining checkpoint's whole stored config; weights that carry
// none (official .pth, timm, HuggingFace) take the model and data from the defaults, --config and
// --set. A classifier checkpoint (no decoder) is refused.
tasks::PretrainOptions resolve_visualize(const std::string& weights, const UserSettings& user);

}  // namespace mae::config
