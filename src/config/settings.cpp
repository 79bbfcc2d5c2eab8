#include "mae/config/settings.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include "mae/core/error.h"
#include "mae/distributed/process_group.h"
#include "mae/models/presets.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/training_loader.h"
#include "mae/train/checkpoint.h"
#include "sections.h"

namespace mae::config {
namespace fs = std::filesystem;
namespace {

// The keys of each command, bound to the structs that hold their values.
struct PretrainSettings {
  tasks::PretrainOptions options;
  MaeKeys model;
  std::vector<double> picture_channels;  // visualize.channels as given (a list of numbers)
  void bind_all(Fields& f) {
    bind(f, model);
    bind(f, options.data);
    bind(f, options.trainer);
    f("visualize.num_images", options.visualize_num_images, "images in the reconstruction picture after each visualised epoch");
    f("visualize.every", options.visualize_every, "write reconstructions every N epochs (0: after the last only)");
    f("visualize.channels", picture_channels,
      "bands (numbered from 1) drawn as an RGB composite (e.g. 3,2,1) or one grey band, stretched 2-98 %; "
      "empty: 1 or 3 channels as they are, more as one grey row per band");
    bind(f, options.knn);
    f("knn.random_init", options.knn_random_init,
      "with knn.every: also measure the randomly initialised encoder before training, the baseline of the k-NN figures");
  }
  void to_keys() {
    model = mae_keys(options.model, options.mask_ratio);
    picture_channels.clear();
    for (int64_t band : options.visualize_channels) picture_channels.push_back(static_cast<double>(band));
  }
  void from_keys() {
    options.model = mae_options(model);
    options.mask_ratio = model.mask_ratio;
    options.visualize_channels.clear();
    for (double band : picture_channels) {
      MAE_CHECK_USAGE(band == std::floor(band), "visualize.channels: ", band, " is not a band number (e.g. 3,2,1)");
      options.visualize_channels.push_back(static_cast<int64_t>(band));
    }
  }
};

struct ClassifySettings {
  tasks::ClassifyOptions options;
  VitKeys model;
  tasks::KnnOptions knn;  // inference commands only
  bool with_knn = false;
  void bind_all(Fields& f) {
    bind(f, model);
    bind(f, options.data);
    bind(f, options.mixup);
    bind(f, options.trainer);
    f("finetune.mode", options.linprobe, tasks::kFinetuneModeNames, "all or the last k blocks, or a frozen encoder");
    f("finetune.init", options.init, "weights to start from (any file `mae` reads; empty: random init)");
    f("finetune.trainable_blocks", options.trainable_blocks, "train only the last k blocks + head (-1: all; 0: the head alone)");
    f("finetune.head_init_std", options.head_init_std, "std of a new head's weight (official: 2e-5 finetune, 0.01 linprobe)");
    f("finetune.eval_every", options.eval_every, "evaluate on the val split every N epochs (and after the last)");
    f("optim.layer_decay", options.layer_decay, "layer-wise lr decay (1: off)");
    if (with_knn) bind(f, knn);
  }
  void to_keys() { model = vit_keys(options.model); }
  void from_keys() { options.model = vit_options(model); }
};

struct SegmentSettings {
  tasks::SegmentOptions options;
  SegKeys model;
  void bind_all(Fields& f) {
    bind(f, model);
    bind(f, options.data);
    bind(f, options.trainer);
    f("seg.init", options.init, "encoder weights to start from (any file `mae` reads; empty: random init)");
    f("seg.layer_decay", options.layer_decay, "layer-wise lr decay of the encoder (mmseg's MAE recipe: 0.65; 1: off)");
    f("seg.eval_every", options.eval_every, "score the val split every N epochs (0: after the last only)");
    f("seg.inference", options.inference, tasks::kSegInferenceNames,
      "crops of model.img_size every seg.stride pixels, averaged (ADE20K's), or the whole image at once");
    f("seg.stride", options.stride, "sliding windows' step in pixels (0: two thirds of the crop)");
    f("seg.avg_non_ignore", options.avg_non_ignore,
      "the loss averages over labelled pixels (true) or over all pixels, unlabelled and padding as 0 (false: mmseg's default)");
  }
  void to_keys() { model = seg_keys(options.model); }
  void from_keys() {
    options.model = segmenter_options(model);
    auto& t = options.data.transform;
    t.crop_h = options.model.encoder.img_h, t.crop_w = options.model.encoder.img_w;
    t.channels = options.model.encoder.in_chans;
    if (options.model.num_classes == 0 && !options.data.class_names_file.empty()) {
      options.model.num_classes = static_cast<int64_t>(tasks::segmentation_class_names(options.data, 0).size());
    }
  }
};

ClassifySettings classify_defaults(bool linprobe) {
  ClassifySettings s;
  if (linprobe) s.options = tasks::ClassifyOptions::linprobe_defaults();
  return s;
}

template <typename Settings>
Config schema_of(Settings settings) {
  settings.to_keys();
  Config config;
  Fields declare(config, Fields::Mode::kDeclare);
  settings.bind_all(declare);
  return config;
}

// Applies one layer; `assigned` collects the keys that layers have set. A layer that sets
// model.img_size without model.img_h / img_w means a square input, whatever an earlier layer said
// about height and width. A layer that changes data.source drops the file lists that no layer has
// set: the built-in ones are Fashion-MNIST's and mean nothing to another source.
void apply_layer(Config& config, const Assignments& layer, const std::string& origin, std::set<std::string>* assigned) {
  bool size = false, sides = false;
  std::set<std::string> keys;
  for (const auto& [key, value] : layer) {
    size |= key == "model.img_size";
    sides |= key == "model.img_h" || key == "model.img_w";
    keys.insert(key);
  }
  if (size && !sides && config.has("model.img_h")) config.apply({{"model.img_h", "0"}, {"model.img_w", "0"}}, "");
  for (const auto& [key, value] : layer) {
    if (key != "data.source" || !config.has(key) || value == config.get_string(key)) continue;
    for (const char* files : {"data.train_files", "data.val_files"}) {
      if (config.has(files) && !assigned->count(files) && !keys.count(files)) config.apply({{files, ""}}, "");
    }
  }
  config.apply(layer, origin);
  assigned->insert(keys.begin(), keys.end());
}

struct Layer {
  Assignments values;
  std::string origin;
};

// Defaults < `bases` in order (the checkpoint's facts, a resumed run's own settings) < --config <
// --set, read back into the structs, which are then written back as the YAML the run saves.
template <typename Settings>
Settings resolve(Settings defaults, const std::vector<Layer>& bases, const UserSettings& user) {
  defaults.to_keys();
  Config config;
  {
    Fields declare(config, Fields::Mode::kDeclare);
    defaults.bind_all(declare);
  }
  std::set<std::string> assigned;
  for (const auto& base : bases) apply_layer(config, base.values, base.origin, &assigned);
  if (!user.file.empty()) apply_layer(config, config.parse_yaml_file(user.file), user.file, &assigned);
  for (const auto& s : user.sets) apply_layer(config, {Config::parse_assignment(s)}, "--set", &assigned);
  Settings settings = defaults;
  Fields read(config, Fields::Mode::kRead);
  settings.bind_all(read);
  settings.from_keys();
  settings.options.trainer.world_size = distributed::world_size();
  return settings;
}

template <typename Settings>
std::string yaml_of(Settings settings, const tasks::ConfigNotes& notes = {}) {
  settings.to_keys();
  Config config = schema_of(settings);
  Fields write(config, Fields::Mode::kWrite);
  settings.bind_all(write);
  return config.to_yaml(notes);
}

// A training command's config_yaml, and its render_config: the same settings written again with
// the trainer options the run settled (train.precision=auto), with notes as comments.
template <typename Settings>
void set_config_yaml(Settings& s) {
  s.options.config_yaml = yaml_of(s);
  s.options.render_config = [resolved = s](const train::TrainerOptions& trainer, const tasks::ConfigNotes& notes) {
    Settings settled = resolved;
    settled.options.trainer = trainer;
    return yaml_of(settled, notes);
  };
}

// Layer 2 from our checkpoint's model facts: the encoder's shape as a vit_* name and the input.
Assignments facts_layer(const std::optional<tasks::ModelFacts>& f, bool with_head) {
  if (!f) return {};
  const models::VisionTransformerOptions o = f->vit_options({});
  Assignments layer = {{"model.name", models::vit_name(o)},
                       {"model.in_chans", std::to_string(o.in_chans)},
                       {"model.mlp_ratio", format_number(o.mlp_ratio)},
                       {"model.img_size", std::to_string(o.img_h)}};
  if (o.img_h != o.img_w) layer.insert(layer.end(), {{"model.img_h", std::to_string(o.img_h)}, {"model.img_w", std::to_string(o.img_w)}});
  if (with_head && f->kind == tasks::ModelKind::kVit) {
    layer.emplace_back("model.num_classes", std::to_string(f->num_classes));
    layer.emplace_back("model.global_pool", f->global_pool ? "true" : "false");
    layer.emplace_back("model.probe_head", f->probe_head ? "true" : "false");
  }
  return layer;
}

// The data.* settings of the config stored in our checkpoint (the data it was trained on).
Assignments stored_data_layer(const tasks::StoredFacts& stored, const std::string& origin) {
  if (stored.config_yaml.empty()) return {};
  const bool mae = stored.facts && stored.facts->kind == tasks::ModelKind::kMae;
  const Config schema = mae ? pretrain_schema() : classify_schema(false);
  Assignments data;
  for (auto& [key, value] : schema.parse_yaml_string(stored.config_yaml, origin)) {
    if (key.rfind("data.", 0) == 0) data.emplace_back(key, value);
  }
  return data;
}

// A resumed run's own settings: for --resume auto the config.yaml of the run folder that the user's
// layers name; for a checkpoint path the config stored in it, else the config.yaml beside it. None
// when there is no such file (a fresh run; --resume auto then starts one).
Layer resume_layer(const Config& schema, const std::string& resume, const std::string& run_dir) {
  if (resume.empty()) return {};
  std::string yaml_path = run_dir + "/config.yaml";
  if (resume != "auto") {
    const std::string weights = train::checkpoint_stem_of(resume) + ".safetensors";
    MAE_CHECK_USAGE(fs::exists(weights), "--resume ", resume, ": ", weights, " does not exist; give a checkpoint of the run, or auto");
    const auto stored = tasks::read_facts(weights);
    if (!stored.config_yaml.empty()) return {schema.parse_yaml_string(stored.config_yaml, weights + " (stored config)"), weights};
    yaml_path = (fs::path(weights).parent_path() / "config.yaml").string();
  }
  if (!fs::is_regular_file(yaml_path)) return {};
  return {schema.parse_yaml_file(yaml_path), yaml_path};
}

}  // namespace

void check_named_file(const std::string& path, const std::string& what) {
  MAE_CHECK_USAGE(path.empty() || fs::is_regular_file(path), what, " '", path, "' does not exist or is not a file; check the path");
}

Config pretrain_schema() { return schema_of(PretrainSettings{}); }

Config classify_schema(bool linprobe) {
  return schema_of(classify_defaults(linprobe));
}

Config inference_schema() {
  ClassifySettings s;
  s.with_knn = true;
  return schema_of(s);
}

tasks::PretrainOptions resolve_pretrain(const UserSettings& user, const std::string& resume) {
  const std::string run_dir = resolve(PretrainSettings{}, {}, user).options.trainer.run_dir;
  auto s = resolve(PretrainSettings{}, {resume_layer(pretrain_schema(), resume, run_dir)}, user);
  s.options.validate();
  set_config_yaml(s);
  return s.options;
}

tasks::PretrainOptions resolve_stats(const UserSettings& user) {
  auto s = resolve(PretrainSettings{}, {}, user);
  s.options.data.validate();
  return s.options;
}

tasks::ClassifyOptions resolve_classify(bool linprobe, const UserSettings& user, const std::string& init_flag,
                                        const std::string& resume) {
  const ClassifySettings defaults = classify_defaults(linprobe);
  UserSettings with_init = user;
  if (!init_flag.empty()) with_init.sets.push_back("finetune.init=" + init_flag);
  // A resumed run's own settings go under the user's; they name the weights it started from.
  const auto first = resolve(defaults, {}, with_init).options;
  const Layer run = resume_layer(classify_schema(linprobe), resume, first.trainer.run_dir);
  // Which weights: known once those layers are read; their facts then go underneath them.
  const std::string init = resolve(defaults, {run}, with_init).options.init;
  check_named_file(init, "finetune.init (--init)");
  const auto stored = tasks::read_facts(init);
  auto s = resolve(defaults, {{facts_layer(stored.facts, /*with_head=*/false), init}, run}, with_init);
  s.options.validate();
  set_config_yaml(s);
  return s.options;
}

Config segment_schema() { return schema_of(SegmentSettings{}); }

tasks::SegmentOptions resolve_segment(const UserSettings& user, const std::string& init_flag, const std::string& resume) {
  UserSettings with_init = user;
  if (!init_flag.empty()) with_init.sets.push_back("seg.init=" + init_flag);
  const auto first = resolve(SegmentSettings{}, {}, with_init).options;
  const Layer run = resume_layer(segment_schema(), resume, first.trainer.run_dir);
  const std::string init = resolve(SegmentSettings{}, {run}, with_init).options.init;
  check_named_file(init, "seg.init (--init)");
  // The encoder's shape from our checkpoint; the input size stays the crop's (model.img_size).
  Assignments encoder;
  for (auto& kv : facts_layer(tasks::read_facts(init).facts, /*with_head=*/false)) {
    if (kv.first.rfind("model.img_", 0) != 0) encoder.push_back(kv);
  }
  auto s = resolve(SegmentSettings{}, {{encoder, init}, run}, with_init);
  s.options.validate();
  set_config_yaml(s);
  return s.options;
}

tasks::SegmentOptions resolve_segment_checkpoint(const std::string& checkpoint, const UserSettings& user) {
  check_named_file(checkpoint, "the checkpoint");
  const auto stored = tasks::read_facts(checkpoint);
  MAE_CHECK_USAGE(stored.facts && stored.facts->kind == tasks::ModelKind::kSegmenter && !stored.config_yaml.empty(), checkpoint,
                  " is not a `mae segment` checkpoint (it holds no segmenter and its settings); train one with `mae segment`");
  auto s = resolve(SegmentSettings{}, {{segment_schema().parse_yaml_string(stored.config_yaml, checkpoint + " (stored config)"),
                                        checkpoint}},
                   user);
  s.options.model.validate();
  s.options.data.transform.validate();
  s.options.config_yaml = yaml_of(s);
  return s.options;
}

tasks::InferenceOptions resolve_inference(const std::string& checkpoint, bool with_head, const UserSettings& user,
                                          const ImageInput& images) {
  ClassifySettings defaults;
  defaults.with_knn = true;
  check_named_file(checkpoint, "the checkpoint");
  const auto stored = tasks::read_facts(checkpoint);
  MAE_CHECK_USAGE(!with_head || !stored.facts || stored.facts->kind != tasks::ModelKind::kMae, checkpoint,
                  " is a `mae pretrain` checkpoint: it has no classification head; fine-tune it first with `mae finetune --init ",
                  checkpoint, "` (mae knn, embed and visualize take it as it is)");
  Assignments base = stored_data_layer(stored, checkpoint + " (stored config)");
  for (auto& kv : facts_layer(stored.facts, with_head)) base.push_back(kv);
  if (stored.facts && stored.facts->kind == tasks::ModelKind::kVit && stored.facts->global_pool) {
    base.emplace_back("knn.pool", "mean");
  }
  UserSettings layered = user;
  if (!images.input.empty()) {
    MAE_CHECK_USAGE(fs::exists(images.input), "input '", images.input, "' does not exist; give a folder of images or a list file");
    const std::string absolute = fs::absolute(images.input).string();
    const bool folder = fs::is_directory(images.input);
    const std::string root = folder ? absolute : images.root.empty() ? fs::path(absolute).parent_path().string() : images.root;
    // --input names the images: it overrides --config and --set for these keys.
    layered.sets.insert(layered.sets.end(), {"data.source=" + std::string(folder ? "folder" : "list"), "data.root=" + root,
                                             "data.val_files=" + std::string(folder ? "" : absolute)});
  }
  auto s = resolve(defaults, {{base, checkpoint}}, layered);
  s.options.data.validate();
  s.knn.validate();
  return {s.options.model, s.options.data, s.knn};
}

tasks::PretrainOptions resolve_visualize(const std::string& weights, const UserSettings& user) {
  check_named_file(weights, "the weights file");
  const auto stored = tasks::read_facts(weights);
  MAE_CHECK_USAGE(!stored.facts || stored.facts->kind == tasks::ModelKind::kMae, weights,
                  " is a classifier checkpoint: it has no decoder to reconstruct with; give a `mae pretrain` checkpoint");
  const Config schema = pretrain_schema();
  std::vector<Layer> bases;
  // Our checkpoint: its whole stored config. Other files (official .pth, timm, HuggingFace) carry
  // none: the defaults, --config and --set describe the model and the data.
  if (!stored.config_yaml.empty()) bases.push_back({schema.parse_yaml_string(stored.config_yaml, weights + " (embedded config)"), weights});
  auto s = resolve(PretrainSettings{}, bases, user);
  s.options.model.validate();
  s.options.data.validate();
  tasks::check_data_channels(s.options.data, s.options.model.in_chans);
  s.options.config_yaml = yaml_of(s);
  return s.options;
}

}  // namespace mae::config
