#include "mae/tasks/segment.h"

#include <algorithm>
#include <filesystem>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/data/factory.h"
#include "mae/data/segmentation/samples.h"
#include "mae/distributed/process_group.h"
#include "mae/weights/load_state_dict.h"
#include "mae/optim/param_groups.h"
#include "mae/tasks/model_facts.h"
#include "mae/train/checkpoint.h"
#include "mae/train/run_folder.h"

namespace mae::tasks {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

void SegmentDataOptions::validate() const {
  MAE_CHECK_USAGE(!root.empty() && fs::is_directory(root), "data.root '", root,
                  "' is not a folder; set data.root to the folder that holds the images and label maps");
  MAE_CHECK_USAGE(num_workers >= 0, "data.num_workers ", num_workers, " must be >= 0 (0: one per core)");
  MAE_CHECK_USAGE(prefetch_batches >= 1, "data.prefetch_batches ", prefetch_batches, " must be >= 1");
  transform.validate();
}

SegmentOptions::SegmentOptions() {
  // A small ViT on 64 x 64 crops: the demo model's encoder (mae pretrain's default), for quick runs.
  auto& e = model.encoder;
  e.img_h = e.img_w = 64;
  e.patch_size = 8, e.in_chans = 3, e.embed_dim = 128, e.depth = 4, e.num_heads = 4;
  e.drop_path_rate = 0.1;
  model.num_classes = 0;  // from the data's names, else required
  model.channels = 128;
  model.aux_channels = 64;
  auto& t = data.transform;
  t.crop_h = t.crop_w = 64;
  t.scale_long = 256, t.scale_short = 64;
  // mmseg's MAE recipe: AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05, layer decay 0.65.
  trainer.epochs = 20;
  trainer.warmup_epochs = 1;
  trainer.batch_size = 8;
  trainer.lr = 1e-4;
  trainer.beta2 = 0.999;
  trainer.weight_decay = 0.05;
  trainer.run_dir = "runs/segment";
}

void SegmentOptions::validate() const {
  MAE_CHECK_USAGE(model.num_classes > 0, "model.num_classes must be set for segmentation (150 for ADE20K), or give ",
                  "data.class_names_file with one name per class");
  data.validate();
  model.validate();
  trainer.validate();
  MAE_CHECK_USAGE(layer_decay > 0 && layer_decay <= 1, "seg.layer_decay must lie in (0, 1], got ", layer_decay);
  MAE_CHECK_USAGE(eval_every >= 0, "seg.eval_every must be >= 0, got ", eval_every);
  const auto& t = data.transform;
  MAE_CHECK_USAGE(stride >= 0 && stride <= std::min(t.crop_h, t.crop_w), "seg.stride must lie in [0, ",
                  std::min(t.crop_h, t.crop_w), "] (0: two thirds of the crop; above the crop, model.img_size, ",
                  "some pixels get no window), got ", stride);
  MAE_CHECK_USAGE(t.crop_h == model.encoder.img_h && t.crop_w == model.encoder.img_w, "the training crop ", t.crop_h, "x",
                  t.crop_w, " must be the model's input model.img_size ", model.encoder.img_h, "x", model.encoder.img_w);
  // UPerHead's 1 x 1 pyramid pooling leaves BatchNorm one value per channel and image (mmseg: SyncBN).
  MAE_CHECK_USAGE(model.head == models::SegHead::kLinear || trainer.batch_size >= 2, "model.head=upernet needs ",
                  "train.batch_size >= 2 per process (its pyramid pooling's BatchNorm sees one value per image); got ",
                  trainer.batch_size);
  MAE_CHECK_USAGE(t.channels == model.encoder.in_chans, "the images are read with ", t.channels,
                  " channel(s) but the model takes ", model.encoder.in_chans, "; give one data.mean / data.std value per channel");
}

std::shared_ptr<const data::PairSource> read_pairs(const SegmentDataOptions& data, data::Split split) {
  const bool train = split == data::Split::kTrain;
  const auto& files = train ? data.train_files : data.val_files;
  const char* key = train ? "data.train_files" : "data.val_files";
  MAE_CHECK_USAGE(!files.empty(), key, " is empty: name the ", data::split_name(split), " split (the ADE20K folder, e.g. ",
                  train ? "training" : "validation", ", or list files)");
  std::vector<data::SegmentationPair> pairs;
  if (data.layout == PairLayout::kAde20k) {
    for (const auto& folder : files) {
      auto more = data::scan_ade20k(data.root, folder);
      pairs.insert(pairs.end(), more.begin(), more.end());
    }
  } else {
    pairs = data::read_pair_lists(data.root, files);
  }
  return std::make_shared<const data::PairSource>(std::move(pairs), data.reduce_zero_label);
}

std::vector<std::string> segmentation_class_names(const SegmentDataOptions& data, int64_t num_classes) {
  std::vector<std::string> names;
  if (!data.class_names_file.empty()) {
    const fs::path file(data.class_names_file);
    names = data::read_class_names((file.is_absolute() ? file : fs::path(data.root) / file).string());
    MAE_CHECK_USAGE(num_classes == 0 || static_cast<int64_t>(names.size()) == num_classes, "data.class_names_file '",
                    data.class_names_file, "' names ", names.size(), " classes but model.num_classes is ", num_classes,
                    data.reduce_zero_label ? " (with data.reduce_zero_label=true label 0 is unscored: leave its name out)" : "",
                    "; give one name per class, in label order");
  }
  for (auto i = static_cast<int64_t>(names.size()); i < num_classes; ++i) names.push_back(std::to_string(i));
  return names;
}

torch::Tensor predict_labels(models::Segmenter& model, const data::RawImage& image, const SegmentOptions& options,
                             const torch::Device& device) {
  data::JointTransformOptions t = options.data.transform;
  t.train = false;
  data::SampleRng unused(0);
  const auto sample = data::JointTransform(t).apply(image, torch::Tensor(), unused);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto x = sample.image.unsqueeze(0).to(device);
  const auto forward = [&](const torch::Tensor& crop) { return model->forward(crop).logits.to(torch::kFloat32); };
  const auto& o = options.model;
  torch::Tensor logits;
  if (options.inference == SegInference::kSlide) {
    const int64_t stride_h = options.stride > 0 ? options.stride : std::max<int64_t>(1, t.crop_h * 2 / 3);
    const int64_t stride_w = options.stride > 0 ? options.stride : std::max<int64_t>(1, t.crop_w * 2 / 3);
    logits = eval::slide_inference(forward, x, t.crop_h, t.crop_w, stride_h, stride_w, o.num_classes);
  } else {
    logits = eval::whole_inference(forward, x, o.encoder.patch_size);
  }
  logits = F::interpolate(logits, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{image.height, image.width})
                                      .mode(torch::kBilinear)
                                      .align_corners(false));
  return logits.argmax(1)[0].to(torch::kCPU);
}

eval::SegmentationMetrics evaluate_segmenter(models::Segmenter& model, const data::PairSource& pairs,
                                             const SegmentOptions& options, const torch::Device& device, int64_t max_images) {
  const bool was_training = model->is_training();
  eval::SegmentationMeter meter(options.model.num_classes);
  const int64_t n = max_images > 0 ? std::min(max_images, pairs.size()) : pairs.size();
  int64_t skipped = 0;
  for (int64_t i = distributed::rank(); i < n; i += distributed::world_size()) {
    data::RawImage image;
    torch::Tensor labels;
    try {  // an unreadable pair is left out on this rank; every rank still reaches the all-reduce
      image = pairs.open_image(i);
      labels = pairs.open_labels(i, image.height, image.width);
    } catch (const data::DataError& e) {
      core::log_warning(str("eval: skipping an unreadable pair: ", e.what()));
      ++skipped;
      continue;
    }
    meter.add(predict_labels(model, image, options, device), labels);
  }
  meter.all_reduce();
  if (skipped > 0) {
    core::log_warning(str("eval: ", skipped, " unreadable pair(s) left out of the metrics on rank ", distributed::rank()));
  }
  model->train(was_training);
  return meter.result();
}

SegmentTask::SegmentTask(const SegmentOptions& options, torch::Device device, std::vector<std::string> class_names)
    : options_(options), device_(device), class_names_(std::move(class_names)) {
  torch::manual_seed(options_.trainer.seed);  // the initial weights
  model_ = models::Segmenter(options_.model);
  model_->to(device_);
  if (!options_.data.val_files.empty()) val_ = read_pairs(options_.data, data::Split::kVal);
}

weights::LoadReport SegmentTask::init_from(const std::string& path, bool non_strict) {
  weights::LoadOptions load;
  load.non_strict = non_strict;
  const weights::LoadReport report = weights::load_weights(*model_->backbone, path, load);
  core::log_info("encoder initialised from " + path + " (neck and heads start fresh):\n" + report.to_string());
  return report;
}

torch::Tensor SegmentTask::loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) {
  const auto out = model_->forward(batch.images);
  const auto labels = batch.labels.to(device_);
  const auto& o = options_.model;
  return models::segmentation_loss(out.logits.to(torch::kFloat32), out.aux.defined() ? out.aux.to(torch::kFloat32) : out.aux,
                                   labels, data::kIgnoreLabel, o.aux_weight, options_.avg_non_ignore);
}

std::vector<optim::ParamGroup> SegmentTask::param_groups(double weight_decay) {
  // mmseg's LayerDecayOptimizerConstructor: the backbone's layers by depth, the neck and heads at 1.
  return optim::layer_decay_groups(*model_, weight_decay, options_.trainer.no_weight_decay, options_.layer_decay,
                                   options_.model.encoder.depth);
}

std::map<std::string, std::string> SegmentTask::checkpoint_metadata() {
  const auto& t = options_.data.transform;
  return facts_metadata(ModelFacts::of_segmenter(options_.model, class_names_, t.mean, t.std), options_.config_yaml);
}

void SegmentTask::end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) {
  if (!val_) return;
  const bool last = epoch + 1 == options_.trainer.epochs;
  if (!last && (options_.eval_every == 0 || (epoch + 1) % options_.eval_every != 0)) return;
  distributed::broadcast_buffers(*model_);  // rank 0's BatchNorm statistics: the model checkpoint-best saves
  last_ = evaluate_segmenter(model_, *val_, options_, device_);
  summary->emplace_back("val_miou", last_.miou);
  summary->emplace_back("val_macc", last_.macc);
  summary->emplace_back("val_aacc", last_.aacc);
  if (!core::is_main_process()) return;
  core::write_file_atomic(run_dir + "/val_metrics.json",
                          [&](std::ostream& out) { out << eval::segmentation_json(last_, class_names_) << "\n"; });
  eval::write_segmentation_csv(run_dir + "/val_per_class.csv", last_, class_names_);
  if (last_.miou > best_miou_) {
    best_miou_ = last_.miou;
    const auto& t = options_.data.transform;
    ModelFacts facts = ModelFacts::of_segmenter(options_.model, class_names_, t.mean, t.std);
    facts.val_miou = last_.miou;
    facts.epoch = epoch + 1;
    train::save_checkpoint(run_dir + "/checkpoint-best", *model_, facts_metadata(facts, options_.config_yaml));
  }
  summary->emplace_back("best_miou", best_miou_);
}

void SegmentTask::restore_best(const std::string& run_dir) {
  const std::string best = run_dir + "/checkpoint-best.safetensors";
  if (!fs::exists(best)) return;
  const auto stored = read_facts(best);
  if (stored.facts && stored.facts->val_miou) best_miou_ = *stored.facts->val_miou;
}

SegmentResult run_segment(SegmentOptions options, const torch::Device& device, const SegmentRequest& request) {
  options.validate();
  const train::TrainerOptions& trainer_options = options.trainer;
  train::check_run_folder(trainer_options.run_dir, !request.resume.empty(), request.overwrite);
  const auto train_pairs = read_pairs(options.data, data::Split::kTrain);
  SegmentTask task(options, device, segmentation_class_names(options.data, options.model.num_classes));

  data::LoaderOptions lo;
  lo.batch_size = trainer_options.batch_size;
  lo.num_workers = options.data.num_workers;
  lo.prefetch_batches = options.data.prefetch_batches;
  lo.seed = trainer_options.seed;
  lo.rank = distributed::rank();
  lo.world_size = distributed::world_size();
  lo.pin_memory = device.is_cuda();
  lo.prefetch_next_epoch = true;
  data::JointTransformOptions t = options.data.transform;
  t.train = true;
  auto samples = std::make_shared<const data::SegmentationSamples>(train_pairs, std::make_shared<const data::JointTransform>(t));
  auto loader = std::make_unique<data::Loader>(samples, lo);

  TrainingRunSpec spec = training_run_spec(options, options.model.encoder,
                                           ModelFacts::of_segmenter(options.model, {}, t.mean, t.std), request.resume,
                                           request.overwrite);
  spec.label_maps = true;
  TrainingRun run = start_training_run(spec, task, device, std::move(loader));
  if (run.resumed) {
    task.restore_best(trainer_options.run_dir);
  } else if (!options.init.empty()) {
    task.init_from(options.init, request.non_strict);
  } else {
    core::log_info("no seg.init: the encoder starts from random initialisation");
  }
  core::log_info(str("segment: ", core::choice_name(models::kSegHeadNames, options.model.head), " head, ", options.model.num_classes,
                     " classes, ", train_pairs->size(), " training pairs, crop ", t.crop_h, "x", t.crop_w));
  SegmentResult result;
  result.train = run.trainer->fit();
  result.last = task.last_metrics();
  result.best_miou = task.best_miou();
  const auto& m = result.last;
  const std::string scores = m.pixels == 0 ? std::string("the val split not scored in this run")
                                            : str("val mIoU ", m.miou, " %, mAcc ", m.macc, " %, aAcc ", m.aacc, " % (best ",
                                                  result.best_miou, " %)");
  core::log_info(str("segment done: ", result.train.epochs_completed, " epoch(s), ", result.train.seconds, " s; ", scores,
                     "; checkpoints in ", trainer_options.run_dir));
  return result;
}

}  // namespace mae::tasks
