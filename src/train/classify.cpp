#include "mae/train/classify.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/rng.h"
#include "mae/core/runtime.h"
#include "mae/data/factory.h"
#include "mae/dist/process_group.h"
#include "mae/data/mixup.h"
#include "mae/io/load_state_dict.h"
#include "mae/io/weights_file.h"
#include "mae/models/presets.h"
#include "mae/train/checkpoint.h"
#include "mae/train/pretrain.h"

namespace mae::train {
namespace {

constexpr uint64_t kMixupStream = 0x6d69787570ull;  // "mixup"

// Our metadata key -> config key, for the shape facts every checkpoint of ours carries.
const std::vector<std::pair<const char*, const char*>> kShapeKeys = {
    {"patch_size", "model.patch_size"}, {"in_chans", "model.in_chans"}, {"embed_dim", "model.embed_dim"},
    {"depth", "model.depth"},           {"num_heads", "model.num_heads"}, {"mlp_ratio", "model.mlp_ratio"}};
const std::vector<std::pair<const char*, const char*>> kHeadKeys = {
    {"num_classes", "model.num_classes"}, {"global_pool", "model.global_pool"}, {"probe_head", "model.probe_head"}};

std::string stem_of_run(const std::string& run_dir, const char* name) { return (std::filesystem::path(run_dir) / name).string(); }

}  // namespace

core::Config finetune_config() {
  core::Config c;
  models::add_vit_config(c);
  data::add_data_config(c);
  data::add_mixup_config(c);
  add_trainer_config(c);
  using core::ValueType;
  c.add("finetune.mode", ValueType::kString, "finetune", "finetune (all or the last k blocks) or linprobe (frozen encoder)");
  c.add("finetune.init", ValueType::kString, "", "weights to start from (any file `mae` reads; empty: random init)");
  c.add("finetune.trainable_blocks", ValueType::kInt, "-1", "train only the last k blocks + head (-1: all; 0: the head alone)");
  c.add("finetune.head_init_std", ValueType::kFloat, "2e-5", "std of a new head's weight (official: 2e-5 finetune, 0.01 linprobe)");
  c.add("finetune.eval_every", ValueType::kInt, "1", "evaluate on the val split every N epochs (and after the last)");
  c.add("optim.layer_decay", ValueType::kFloat, "0.75", "layer-wise lr decay (1: off)");
  // The built-in default: the small Fashion-MNIST ViT of `mae pretrain`, fine-tuned briefly on
  // whole images with flips and label smoothing (random crops of 28 px images, RandAugment, Mixup,
  // CutMix and RandomErasing need longer schedules to pay off:
  // configs/finetune_vit_base_patch16_imagenet.yaml has the full recipe).
  c.set_default("model.name", "vit_tiny_patch4");
  c.set_default("model.img_size", "28");
  c.set_default("model.in_chans", "1");
  c.set_default("model.embed_dim", "128");
  c.set_default("model.depth", "6");
  c.set_default("model.num_heads", "4");
  c.set_default("data.num_workers", "1");
  c.set_default("data.crop_scale", "1,1");
  c.set_default("data.crop_ratio", "1,1");
  c.set_default("data.eval_resize_ratio", "1");  // evaluated on whole images too
  c.set_default("train.epochs", "6");
  c.set_default("train.output_dir", "runs/finetune");
  c.set_default("optim.blr", "1e-3");
  c.set_default("optim.min_lr", "1e-6");
  c.set_default("optim.betas", "0.9,0.999");
  c.set_default("optim.no_weight_decay", "pos_embed,cls_token,dist_token");
  c.set_default("aug.smoothing", "0.1");
  return c;
}

core::Config linprobe_config() {
  core::Config c = finetune_config();
  c.set_default("finetune.mode", "linprobe");
  c.set_default("data.crop_scale", "0.2,1.0");  // RandomResizedCrop + flip, as the official probe
  c.set_default("data.crop_ratio", "0.75,1.3333333333333333");
  c.set_default("data.eval_resize_ratio", "1.1428571428571428");  // resize 256 / crop 224
  c.set_default("finetune.head_init_std", "0.01");
  c.set_default("model.global_pool", "false");
  c.set_default("model.drop_path", "0");
  c.set_default("model.probe_head", "true");
  c.set_default("optim.optimizer", "lars");
  c.set_default("optim.weight_decay", "0");
  // LARS moves each weight by about lr * 1e-3 * |w| per step, whatever the batch: the official lr
  // (blr 0.1 x 16384 / 256 = 6.4 over 7,000 steps) needs no batch scaling to carry over. The
  // built-in default sets it absolutely (optim.lr wins over optim.blr); ImageNet configs use blr.
  c.set_default("optim.blr", "0.1");
  c.set_default("optim.lr", "2");
  c.set_default("optim.min_lr", "0");
  c.set_default("optim.layer_decay", "1");
  c.set_default("aug.smoothing", "0");
  c.set_default("train.output_dir", "runs/linprobe");
  return c;
}

std::map<std::string, std::string> mae_metadata(const std::string& weights_path) {
  if (weights_path.size() < 12 || weights_path.compare(weights_path.size() - 12, 12, ".safetensors") != 0) return {};
  auto metadata = read_checkpoint_metadata(weights_path);
  return metadata.count(kFormatKey) ? metadata : std::map<std::string, std::string>{};
}

void adopt_model_shape(const std::map<std::string, std::string>& metadata, bool with_head, core::Config* config) {
  if (metadata.empty()) return;
  auto adopt = [&](const char* meta_key, const char* config_key) {
    auto it = metadata.find(meta_key);
    if (it != metadata.end() && config->is_default(config_key)) config->set(config_key, it->second);
  };
  for (const auto& [meta_key, config_key] : kShapeKeys) adopt(meta_key, config_key);
  if (with_head) {
    for (const auto& [meta_key, config_key] : kHeadKeys) adopt(meta_key, config_key);
  }
  if (config->is_default("model.img_size") && config->is_default("model.img_h") && config->is_default("model.img_w")) {
    adopt("img_h", "model.img_h");
    adopt("img_w", "model.img_w");
  }
}

void adopt_data_config(const std::map<std::string, std::string>& metadata, core::Config* config) {
  auto it = metadata.find(kConfigKey);
  if (it == metadata.end()) return;
  core::Config stored = metadata.count("model") && metadata.at("model") == "mae" ? pretrain_config() : finetune_config();
  stored.load_yaml_string(it->second, "the checkpoint's stored config");
  config->copy_from(stored, "data.");
}

std::map<std::string, std::string> vit_checkpoint_metadata(const core::Config& config, const models::VisionTransformerOptions& o,
                                                           const std::vector<std::string>& class_names) {
  auto facts = encoder_facts(o);
  facts.insert({{kConfigKey, config.to_yaml()},
                {"model", "vit"},
                {"num_classes", std::to_string(o.num_classes)},
                {"global_pool", o.global_pool ? "true" : "false"},
                {"probe_head", o.probe_head ? "true" : "false"},
                {"class_names", nlohmann::json(class_names).dump()},
                {"mean", join_values(config.get_float_list("data.mean"))},
                {"std", join_values(config.get_float_list("data.std"))}});
  return facts;
}

std::vector<std::string> stored_class_names(const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find("class_names");
  if (it == metadata.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

ClassifyTask::ClassifyTask(const core::Config& config, torch::Device device, int64_t num_classes,
                           std::vector<std::string> class_names)
    : config_(config), device_(device), class_names_(std::move(class_names)),
      seed_(static_cast<uint64_t>(config.get_int("train.seed"))), smoothing_(config.get_float("aug.smoothing")) {
  const std::string mode = config.get_string("finetune.mode");
  MAE_CHECK_USAGE(mode == "finetune" || mode == "linprobe", "finetune.mode must be finetune or linprobe, got '", mode, "'");
  linprobe_ = mode == "linprobe";
  auto o = models::vit_options_from_config(config);
  o.num_classes = num_classes;
  torch::manual_seed(seed_);  // the initial weights
  model_ = models::VisionTransformer(o);
  freeze_for_mode();
  model_->to(device_);
  auto mixup = data::mixup_options_from_config(config, num_classes);
  if (mixup.enabled()) mixup_ = std::make_unique<data::Mixup>(mixup);

  data::LoaderOptions lo = data::loader_options(config, data::Split::kVal);
  lo.batch_size = config.get_int("train.batch_size");
  lo.seed = seed_;
  lo.rank = dist::rank();  // evaluation is sharded without repeats and reduced over the ranks
  lo.world_size = dist::world_size();
  lo.pad_shards = false;
  val_loader_ = data::make_loader(config, data::Split::kVal, o.in_chans, o.img_h, o.img_w, lo);
  MAE_CHECK_USAGE(val_loader_->dataset_size() > 0, "the val split is empty; check data.val_files");
}

void ClassifyTask::restore_best(const std::string& run_dir) {
  const std::string best = stem_of_run(run_dir, "checkpoint-best") + ".safetensors";
  if (!std::filesystem::exists(best)) return;
  try {
    best_top1_ = std::stod(read_checkpoint_metadata(best).at("val_top1"));
  } catch (const std::exception&) {
    best_top1_ = -1;
  }
}

ClassifyTask::~ClassifyTask() = default;

void ClassifyTask::freeze_for_mode() {
  const int64_t k = config_.get_int("finetune.trainable_blocks");
  MAE_CHECK_USAGE(k >= -1 && k <= model_->options().depth, "finetune.trainable_blocks must be -1 (all) or 0..",
                  model_->options().depth, ", got ", k);
  if (!linprobe_ && k < 0) return;
  for (auto& p : model_->parameters()) p.requires_grad_(false);
  for (auto& p : model_->head->parameters()) p.requires_grad_(true);
  if (linprobe_) return;
  const int64_t depth = model_->options().depth;
  for (int64_t i = depth - k; i < depth; ++i) {
    for (auto& p : (*model_->blocks)[i]->parameters()) p.requires_grad_(true);
  }
  if (k > 0) {
    auto& final_norm = model_->options().global_pool ? model_->fc_norm : model_->norm;
    for (auto& p : final_norm->parameters()) p.requires_grad_(true);
  }
}

io::LoadReport ClassifyTask::init_from(const std::string& path, bool non_strict) {
  io::LoadOptions load;
  load.non_strict = non_strict;
  load.reinit_mismatched_head = true;  // a head for other classes starts fresh
  const io::LoadReport report = io::load_weights(*model_, path, load);
  const bool new_head = report.expected_missing_group("head") != nullptr;
  if (new_head) model_->reset_head(config_.get_float("finetune.head_init_std"));
  core::log_info("initialised from " + path + ":\n" + report.to_string() +
                 (new_head ? str("\nnew head: weight ~ N(0, ", config_.get_float("finetune.head_init_std"), "), bias 0") : ""));
  return report;
}

torch::Tensor ClassifyTask::loss(const data::Batch& batch, int64_t epoch, Scalars* scalars) {
  MAE_CHECK_USAGE(batch.labels.numel() == 0 || batch.labels.min().item<int64_t>() >= 0,
                  "an image without a label reached fine-tuning; use a labelled source (list files with labels, "
                  "class folders, idx with a labels file)");
  torch::Tensor images = batch.images, targets;
  const auto labels = batch.labels.to(device_);
  if (mixup_) {
    const uint64_t seed = core::derive_seed(seed_, {kMixupStream, static_cast<uint64_t>(epoch),
                                                    static_cast<uint64_t>(batch.indices[0].item<int64_t>())});
    std::tie(images, targets) = mixup_->apply(images, labels, seed);
  }
  torch::Tensor logits;
  if (linprobe_) {
    torch::Tensor features;
    {
      torch::NoGradGuard frozen;
      features = model_->forward_features(images);
    }
    logits = model_->probe_head ? model_->probe_head->forward(features) : model_->head->forward(features);
  } else {
    logits = model_->forward(images);
  }
  logits = logits.to(torch::kFloat32);
  if (targets.defined()) return data::soft_target_cross_entropy(logits, targets);
  return torch::nn::functional::cross_entropy(logits, labels,
                                              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing_));
}

std::vector<ParamGroup> ClassifyTask::param_groups(double weight_decay) {
  if (linprobe_) {
    ParamGroup head{"head", {}, {}, weight_decay, 1.0};
    for (const auto& kv : model_->named_parameters()) {
      if (kv.value().requires_grad()) head.names.push_back(kv.key()), head.params.push_back(kv.value());
    }
    return {head};
  }
  return layer_decay_groups(*model_, weight_decay, split_names(config_.get_string("optim.no_weight_decay")),
                            config_.get_float("optim.layer_decay"), model_->options().depth);
}

std::map<std::string, std::string> ClassifyTask::checkpoint_metadata() {
  return vit_checkpoint_metadata(config_, model_->options(), class_names_);
}

eval::ClassificationMetrics ClassifyTask::evaluate() {
  const bool was_training = model_->is_training();
  dist::broadcast_buffers(*model_);  // rank 0's BatchNorm statistics (the probe head), which it saves
  model_->eval();
  val_loader_->set_epoch(0);
  last_ = eval::evaluate([&](const torch::Tensor& x) { return model_->forward(x); }, *val_loader_, device_,
                         model_->options().num_classes);
  model_->train(was_training);
  return last_;
}

void ClassifyTask::end_epoch(int64_t epoch, const std::string& run_dir, Scalars* summary) {
  const int64_t every = config_.get_int("finetune.eval_every");
  const bool last = epoch + 1 == config_.get_int("train.epochs");
  if (!(last || (every > 0 && (epoch + 1) % every == 0))) return;
  const auto m = evaluate();
  summary->emplace_back("val_top1", m.top1);
  summary->emplace_back("val_top" + std::to_string(m.top_k), m.topk);
  summary->emplace_back("val_loss", m.loss);
  if (m.top1 > best_top1_) {
    best_top1_ = m.top1;
    auto metadata = checkpoint_metadata();
    metadata["val_top1"] = std::to_string(m.top1);
    metadata["epoch"] = std::to_string(epoch + 1);
    if (core::is_main_process()) save_checkpoint(stem_of_run(run_dir, "checkpoint-best"), *model_, metadata);
  }
  summary->emplace_back("best_top1", best_top1_);
}

LoadedViT load_vit(const core::Config& config, const std::string& weights_path, const torch::Device& device, bool with_head,
                   bool non_strict) {
  auto o = models::vit_options_from_config(config);
  o.drop_path_rate = 0;
  LoadedViT out;
  out.class_names = stored_class_names(mae_metadata(weights_path));
  if (with_head) {
    if (o.num_classes == 0) o.num_classes = data::num_classes(config, data::Split::kVal);
    MAE_CHECK_USAGE(o.num_classes > 0, weights_path, ": no class count: the checkpoint does not store one and the val data ",
                    "has no labels; set model.num_classes");
    if (out.class_names.empty()) out.class_names = data::class_names(config, data::Split::kVal);
    for (auto i = static_cast<int64_t>(out.class_names.size()); i < o.num_classes; ++i) out.class_names.push_back(std::to_string(i));
  } else {
    o.num_classes = 0;
    o.probe_head = false;
  }
  out.model = models::VisionTransformer(o);
  io::LoadOptions load;
  load.non_strict = non_strict;
  out.report = io::load_weights(*out.model, weights_path, load);
  if (with_head) {
    MAE_CHECK_USAGE(out.report.expected_missing_group("head") == nullptr, weights_path,
                    " has no classification head (a pretraining checkpoint?); fine-tune it first with `mae finetune`");
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

ClassifyResult run_classify(core::Config config, const torch::Device& device, const ClassifyRequest& request) {
  std::string init = request.init.empty() ? config.get_string("finetune.init") : request.init;
  if (!request.init.empty()) config.set("finetune.init", request.init);
  adopt_model_shape(mae_metadata(init), /*with_head=*/false, &config);

  const int64_t data_classes = data::num_classes(config, data::Split::kTrain);
  MAE_CHECK_USAGE(data_classes > 0, "the training data has no labels; fine-tuning needs labelled data (list files with "
                                    "labels, class folders, idx with a labels file)");
  MAE_CHECK_USAGE(data_classes > 1, "the training data has a single class; classification needs at least two");
  const int64_t model_classes = config.get_int("model.num_classes");
  MAE_CHECK_USAGE(model_classes == 0 || model_classes == data_classes, "model.num_classes is ", model_classes,
                  " but the data has ", data_classes, " classes; set model.num_classes=0 to follow the data");
  config.set("model.num_classes", std::to_string(data_classes));

  TrainerOptions options = trainer_options_from_config(config);
  std::filesystem::create_directories(options.run_dir);
  if (core::is_main_process()) std::ofstream(options.run_dir + "/config.yaml") << config.to_yaml();
  core::log_info("resolved config (saved to " + options.run_dir + "/config.yaml):\n" + config.to_yaml());
  core::log_info(core::describe_runtime() + ", device " + device.str());

  ClassifyTask task(config, device, data_classes, data::class_names(config, data::Split::kTrain));
  const auto& o = task.vit()->options();
  data::LoaderOptions lo = data::loader_options(config, data::Split::kTrain);
  lo.batch_size = options.batch_size;
  lo.seed = options.seed;
  lo.pin_memory = device.is_cuda();
  lo.rank = dist::rank();
  lo.world_size = dist::world_size();
  auto loader = data::make_loader(config, data::Split::kTrain, o.in_chans, o.img_h, o.img_w, lo);
  core::log_info(str(config.get_string("finetune.mode"), ": ", o.img_h, "x", o.img_w, "x", o.in_chans, ", patch ",
                     o.patch_size, ", ", o.embed_dim, "d x ", o.depth, ", ", o.global_pool ? "global pool + fc_norm" : "cls token",
                     ", ", data_classes, " classes; ", loader->dataset_size(), " training images, lr ", options.effective_lr(), " (blr ", options.blr, " x ",
                     options.batch_size * options.accum_iter * options.world_size, " / 256)"));

  Trainer trainer(options, task, *loader, device);
  const bool resumed = trainer.resume(request.resume);
  if (resumed) task.restore_best(options.run_dir);
  if (!resumed && !init.empty()) {
    task.init_from(init, request.non_strict);
  } else if (!resumed) {
    core::log_info("no finetune.init: training from random initialisation");
  }
  ClassifyResult result;
  result.train = trainer.fit();
  result.last = task.last_metrics();
  result.best_top1 = task.best_top1();
  core::log_info(str(config.get_string("finetune.mode"), " done: ", result.train.epochs_completed, " epoch(s), ",
                     result.train.seconds, " s; val top-1 ", result.last.top1, " %, top-", result.last.top_k, " ",
                     result.last.topk, " % (best ", result.best_top1, " %); checkpoints in ", options.run_dir));
  return result;
}

}  // namespace mae::train
