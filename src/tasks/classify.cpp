#include "mae/tasks/classify.h"

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
#include "mae/distributed/process_group.h"
#include "mae/data/augment/mixup.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/weights_file.h"
#include "mae/models/presets.h"
#include "mae/train/checkpoint.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/training_loader.h"
#include "mae/tasks/training_run.h"
#include "mae/train/run_folder.h"

namespace mae::tasks {
namespace {

constexpr uint64_t kMixupStream = 0x6d69787570ull;  // "mixup"

std::string stem_of_run(const std::string& run_dir, const char* name) { return (std::filesystem::path(run_dir) / name).string(); }

}  // namespace

ClassifyOptions::ClassifyOptions() {
  // The built-in default: the small Fashion-MNIST ViT of `mae pretrain`, fine-tuned briefly on
  // whole images with flips and label smoothing (random crops of 28 px images, RandAugment, Mixup,
  // CutMix and RandomErasing need longer schedules to pay off:
  // configs/finetune_vit_base_patch16_imagenet.yaml has the full recipe).
  model = models::vit_preset("vit_mini_patch4");
  model.img_h = model.img_w = 28;
  model.in_chans = 1;
  model.num_classes = 0;
  model.drop_path_rate = 0.1;
  data.num_workers = 1;
  data.transform.scale_min = data.transform.scale_max = 1;
  data.transform.ratio_min = data.transform.ratio_max = 1;
  data.transform.eval_resize_ratio = 1;  // evaluated on whole images too
  mixup.mixup_alpha = mixup.cutmix_alpha = 0;
  mixup.label_smoothing = 0.1;
  trainer.epochs = 6;
  trainer.warmup_epochs = 1;
  trainer.batch_size = 256;
  trainer.run_dir = "runs/finetune";
  trainer.precision = train::Precision::kAuto;
  trainer.blr = 1e-3;
  trainer.min_lr = 1e-6;
  trainer.beta2 = 0.999;
  trainer.no_weight_decay = {"pos_embed", "cls_token", "dist_token"};
}

ClassifyOptions ClassifyOptions::linprobe_defaults() {
  ClassifyOptions o;
  o.linprobe = true;
  o.data.transform.scale_min = 0.2, o.data.transform.scale_max = 1.0;  // RandomResizedCrop + flip, as the official probe
  o.data.transform.ratio_min = 3.0 / 4.0, o.data.transform.ratio_max = 4.0 / 3.0;
  o.data.transform.eval_resize_ratio = 256.0 / 224.0;  // resize 256 / crop 224
  o.head_init_std = 0.01;
  o.model.global_pool = false;
  o.model.drop_path_rate = 0;
  o.model.probe_head = true;
  o.trainer.optimizer = train::OptimizerKind::kLars;
  o.trainer.weight_decay = 0;
  // LARS moves each weight by about lr * 1e-3 * |w| per step, whatever the batch: the official lr
  // (blr 0.1 x 16384 / 256 = 6.4 over 7,000 steps) needs no batch scaling to carry over. The
  // built-in default sets it absolutely (optim.lr wins over optim.blr); ImageNet configs use blr.
  o.trainer.blr = 0.1;
  o.trainer.lr = 2;
  o.trainer.min_lr = 0;
  o.layer_decay = 1;
  o.mixup.label_smoothing = 0;
  o.trainer.run_dir = "runs/linprobe";
  return o;
}

void ClassifyOptions::validate() const {
  model.validate();
  data.validate();
  check_data_channels(data, model.in_chans);
  trainer.validate();
  MAE_CHECK_USAGE(trainable_blocks >= -1 && trainable_blocks <= model.depth, "finetune.trainable_blocks must be -1 (all) or 0..",
                  model.depth, ", got ", trainable_blocks);
  MAE_CHECK_USAGE(head_init_std > 0, "finetune.head_init_std must be positive, got ", head_init_std);
  MAE_CHECK_USAGE(eval_every >= 0, "finetune.eval_every must be >= 0, got ", eval_every);
  MAE_CHECK_USAGE(layer_decay > 0 && layer_decay <= 1, "optim.layer_decay must lie in (0, 1], got ", layer_decay);
  MAE_CHECK_USAGE(mixup.label_smoothing >= 0 && mixup.label_smoothing < 1, "aug.smoothing must lie in [0, 1), got ",
                  mixup.label_smoothing);
}

void ClassifyOptions::settle_num_classes(data::Splits& splits) {
  const int64_t data_classes = splits.num_classes(data::Split::kTrain);
  MAE_CHECK_USAGE(data_classes > 0, "the training data has no labels; fine-tuning needs labelled data (list files with "
                                    "labels, class folders, idx with a labels file)");
  MAE_CHECK_USAGE(data_classes > 1, "the training data has a single class; classification needs at least two");
  MAE_CHECK_USAGE(model.num_classes == 0 || model.num_classes == data_classes, "model.num_classes is ", model.num_classes,
                  " but the data has ", data_classes, " classes; set model.num_classes=0 to follow the data");
  model.num_classes = data_classes;
  mixup.num_classes = data_classes;
}

std::vector<std::string> resolve_class_names(const std::vector<std::string>& stored, data::Splits& splits, data::Split split,
                                             int64_t num_classes) {
  std::vector<std::string> names = stored.empty() ? splits.class_names(split) : stored;
  for (auto i = static_cast<int64_t>(names.size()); i < num_classes; ++i) names.push_back(std::to_string(i));
  return names;
}

ClassifyTask::ClassifyTask(const ClassifyOptions& options, torch::Device device, data::Splits splits,
                           std::vector<std::string> class_names)
    : options_(options), device_(device), splits_(std::move(splits)), class_names_(std::move(class_names)) {
  const auto& o = options_.model;
  MAE_CHECK(o.num_classes > 0, "ClassifyTask needs model.num_classes (ClassifyOptions::settle_num_classes)");
  torch::manual_seed(options_.trainer.seed);  // the initial weights
  model_ = models::VisionTransformer(o);
  freeze_for_mode();
  model_->to(device_);
  if (options_.mixup.enabled()) mixup_ = std::make_unique<data::Mixup>(options_.mixup);

  data::LoaderOptions lo = data::loader_options(options_.data, data::Split::kVal);
  lo.batch_size = options_.trainer.batch_size;
  lo.seed = options_.trainer.seed;
  lo.rank = distributed::rank();  // evaluation is sharded without repeats and reduced over the ranks
  lo.world_size = distributed::world_size();
  lo.pad_shards = false;
  val_loader_ = data::make_loader(options_.data, data::Split::kVal, splits_.get(data::Split::kVal), o.in_chans, o.img_h, o.img_w, lo);
  MAE_CHECK_USAGE(val_loader_->dataset_size() > 0, "the val split is empty; check data.val_files");
}

void ClassifyTask::restore_best(const std::string& run_dir) {
  const std::string best = stem_of_run(run_dir, "checkpoint-best") + ".safetensors";
  if (!std::filesystem::exists(best)) return;
  try {
    const auto stored = read_facts(best);
    best_top1_ = stored.facts && stored.facts->val_top1 ? *stored.facts->val_top1 : -1;
  } catch (const std::exception&) {
    best_top1_ = -1;
  }
}

ClassifyTask::~ClassifyTask() = default;

void ClassifyTask::freeze_for_mode() {
  const int64_t k = options_.trainable_blocks;
  const bool linprobe = options_.linprobe;
  if (!linprobe && k < 0) return;
  for (auto& p : model_->parameters()) p.requires_grad_(false);
  for (auto& p : model_->head->parameters()) p.requires_grad_(true);
  if (linprobe) return;
  const int64_t depth = model_->options().depth;
  for (int64_t i = depth - k; i < depth; ++i) {
    for (auto& p : (*model_->blocks)[i]->parameters()) p.requires_grad_(true);
  }
  if (k > 0) {
    auto& final_norm = model_->options().global_pool ? model_->fc_norm : model_->norm;
    for (auto& p : final_norm->parameters()) p.requires_grad_(true);
  }
}

weights::LoadReport ClassifyTask::init_from(const std::string& path, bool non_strict) {
  weights::LoadOptions load;
  load.non_strict = non_strict;
  load.reinit_mismatched_head = true;  // a head for other classes starts fresh
  const weights::LoadReport report = weights::load_weights(*model_, path, load);
  const bool new_head = report.expected_missing_group("head") != nullptr;
  if (new_head) model_->reset_head(options_.head_init_std);
  core::log_info("initialised from " + path + ":\n" + report.to_string() +
                 (new_head ? str("\nnew head: weight ~ N(0, ", options_.head_init_std, "), bias 0") : ""));
  return report;
}

torch::Tensor ClassifyTask::loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) {
  MAE_CHECK_USAGE(batch.labels.numel() == 0 || batch.labels.min().item<int64_t>() >= 0,
                  "an image without a label reached fine-tuning; use a labelled source (list files with labels, "
                  "class folders, idx with a labels file)");
  torch::Tensor images = batch.images, targets;
  const auto labels = batch.labels.to(device_);
  if (mixup_) {
    const uint64_t seed = core::derive_seed(options_.trainer.seed, {kMixupStream, static_cast<uint64_t>(epoch),
                                                    static_cast<uint64_t>(batch.indices[0].item<int64_t>())});
    std::tie(images, targets) = mixup_->apply(images, labels, seed);
  }
  torch::Tensor logits;
  if (options_.linprobe) {
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
                                              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(options_.mixup.label_smoothing));
}

std::vector<optim::ParamGroup> ClassifyTask::param_groups(double weight_decay) {
  if (options_.linprobe) {
    optim::ParamGroup head{"head", {}, {}, weight_decay, 1.0};
    for (const auto& kv : model_->named_parameters()) {
      if (kv.value().requires_grad()) head.names.push_back(kv.key()), head.params.push_back(kv.value());
    }
    return {head};
  }
  return optim::layer_decay_groups(*model_, weight_decay, options_.trainer.no_weight_decay, options_.layer_decay,
                                   model_->options().depth);
}

std::map<std::string, std::string> ClassifyTask::checkpoint_metadata() {
  const auto& t = options_.data.transform;
  return facts_metadata(ModelFacts::of_vit(model_->options(), class_names_, t.mean, t.std), options_.config_yaml);
}

eval::ClassificationMetrics ClassifyTask::evaluate() {
  const bool was_training = model_->is_training();
  distributed::broadcast_buffers(*model_);  // rank 0's BatchNorm statistics (the probe head), which it saves
  model_->eval();
  val_loader_->set_epoch(0);
  last_ = eval::evaluate([&](const torch::Tensor& x) { return model_->forward(x); }, *val_loader_, device_,
                         model_->options().num_classes);
  model_->train(was_training);
  return last_;
}

void ClassifyTask::end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) {
  const int64_t every = options_.eval_every;
  const bool last = epoch + 1 == options_.trainer.epochs;
  if (!(last || (every > 0 && (epoch + 1) % every == 0))) return;
  const auto m = evaluate();
  summary->emplace_back("val_top1", m.top1);
  summary->emplace_back("val_top" + std::to_string(m.top_k), m.topk);
  summary->emplace_back("val_loss", m.loss);
  if (m.top1 > best_top1_) {
    best_top1_ = m.top1;
    const auto& t = options_.data.transform;
    auto facts = ModelFacts::of_vit(model_->options(), class_names_, t.mean, t.std);
    facts.val_top1 = m.top1;
    facts.epoch = epoch + 1;
    const auto metadata = facts_metadata(facts, options_.config_yaml);
    if (core::is_main_process()) train::save_checkpoint(stem_of_run(run_dir, "checkpoint-best"), *model_, metadata);
  }
  summary->emplace_back("best_top1", best_top1_);
}

LoadedViT load_vit(models::VisionTransformerOptions o, data::Splits& splits, const std::string& weights_path,
                   const torch::Device& device, bool with_head, bool non_strict) {
  o.drop_path_rate = 0;
  LoadedViT out;
  if (with_head) {
    if (o.num_classes == 0) o.num_classes = splits.num_classes(data::Split::kVal);
    MAE_CHECK_USAGE(o.num_classes > 0, weights_path, ": no class count: the checkpoint does not store one and the val data ",
                    "has no labels; set model.num_classes");
    const auto stored = read_facts(weights_path);
    out.class_names = resolve_class_names(stored.facts ? stored.facts->class_names : std::vector<std::string>{}, splits,
                                          data::Split::kVal, o.num_classes);
  } else {
    o.num_classes = 0;
    o.probe_head = false;
  }
  out.model = models::VisionTransformer(o);
  weights::LoadOptions load;
  load.non_strict = non_strict;
  out.report = weights::load_weights(*out.model, weights_path, load);
  if (with_head) {
    MAE_CHECK_USAGE(out.report.expected_missing_group("head") == nullptr, weights_path,
                    " has no classification head (a pretraining checkpoint?); fine-tune it first with `mae finetune`");
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

ClassifyResult run_classify(ClassifyOptions options, const torch::Device& device, const ClassifyRequest& request) {
  data::Splits splits(options.data.source);
  options.settle_num_classes(splits);
  const train::TrainerOptions& trainer_options = options.trainer;
  const char* mode = options.linprobe ? "linprobe" : "finetune";
  train::check_run_folder(trainer_options.run_dir, !request.resume.empty(), request.overwrite);
  ClassifyTask task(options, device, splits,
                    resolve_class_names({}, splits, data::Split::kTrain, options.model.num_classes));
  const auto& o = task.vit()->options();
  const auto& t = options.data.transform;
  TrainingRunSpec spec =
      training_run_spec(options, o, ModelFacts::of_vit(o, {}, t.mean, t.std), request.resume, request.overwrite);
  spec.data = &options.data;
  spec.train_source = splits.get(data::Split::kTrain);
  TrainingRun run = start_training_run(spec, task, device);
  const auto& loader = run.loader;
  const bool resumed = run.resumed;
  core::log_info(str(mode, ": ", models::vit_name(o), ", ", o.img_h, "x", o.img_w, "x", o.in_chans, ", patch ", o.patch_size,
                     ", ", o.embed_dim, "d x ", o.depth, ", ", o.global_pool ? "global pool + fc_norm" : "cls token", ", ",
                     o.num_classes, " classes; ", loader->dataset_size(), " training images; ", train::describe_lr(trainer_options)));

  if (resumed) task.restore_best(trainer_options.run_dir);
  if (!resumed && !options.init.empty()) {
    task.init_from(options.init, request.non_strict);
  } else if (!resumed) {
    core::log_info("no finetune.init: training from random initialisation");
  }
  ClassifyResult result;
  result.train = run.trainer->fit();
  result.last = task.last_metrics();
  result.best_top1 = task.best_top1();
  core::log_info(str(mode, " done: ", result.train.epochs_completed, " epoch(s), ", result.train.seconds, " s; val top-1 ",
                     result.last.top1, " %, top-", result.last.top_k, " ", result.last.topk, " % (best ", result.best_top1,
                     " %); checkpoints in ", trainer_options.run_dir, skipped_reads(*loader)));
  return result;
}

}  // namespace mae::tasks
