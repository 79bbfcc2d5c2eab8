#include "mae/tasks/pretrain.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/rng.h"
#include "mae/core/runtime.h"
#include "mae/data/factory.h"
#include "mae/distributed/process_group.h"
#include "mae/eval/band_picture.h"
#include "mae/eval/reconstruction.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/png_writer.h"
#include "mae/models/presets.h"
#include "mae/tasks/knn_monitor.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/training_loader.h"
#include "mae/tasks/training_run.h"
#include "mae/train/run_folder.h"
#include "mae/optim/schedule.h"

namespace mae::tasks {
namespace {

constexpr uint64_t kMaskStream = 0x6d61736bull;  // "mask"


}  // namespace

PretrainOptions::PretrainOptions() {
  // The built-in default: a small MAE on Fashion-MNIST (28x28 grey, 7x7 patches of 4 pixels).
  model = models::mae_preset("mae_vit_mini_patch4_dec64d2b4h");
  model.img_h = model.img_w = 28;
  model.in_chans = 1;
  model.norm_pix_loss = true;
  trainer.epochs = 2;        // about 2 minutes on 2 cores (README); k-NN top-1 69.1 % -> 76.0-76.3 %
  trainer.warmup_epochs = 1;
  trainer.precision = train::Precision::kAuto;
  knn.every = 5;             // k-NN of the encoder after the last epoch (and every 5), against the random init
  knn.val_samples = 2000;
  trainer.batch_size = 256;
  trainer.blr = 1e-3;        // short schedules of small ViTs want a higher lr than 1.5e-4
  data.num_workers = 1;      // in-memory 28x28 images: one thread feeds the model, the rest compute
}

void PretrainOptions::validate() const {
  model.validate();
  models::check_mask_ratio(mask_ratio, model.num_patches(), "model.mask_ratio");
  data.validate();
  check_data_channels(data, model.in_chans);
  trainer.validate();
  knn.validate();
  MAE_CHECK_USAGE(visualize_num_images >= 0 && visualize_every >= 0, "visualize.num_images and visualize.every must be >= 0");
  eval::check_picture_channels(visualize_channels, model.in_chans);
}

PretrainTask::PretrainTask(const PretrainOptions& options, torch::Device device)
    : options_(options), device_(device), splits_(options.data.source) {
  torch::manual_seed(options_.trainer.seed);  // the initial weights
  model_ = models::MaskedAutoencoderViT(options_.model);
  model_->to(device_);
}

torch::Tensor PretrainTask::masking_noise(const torch::Tensor& indices, int64_t epoch) const {
  return core::per_sample_uniform(indices, core::derive_seed(options_.trainer.seed, {kMaskStream, static_cast<uint64_t>(epoch)}),
                                  model_->options().num_patches());
}

torch::Tensor PretrainTask::loss(const data::Batch& batch, int64_t epoch, train::Scalars* scalars) {
  const auto noise = masking_noise(batch.indices, epoch).to(device_, /*non_blocking=*/true);
  return model_->forward(batch.images, options_.mask_ratio, noise).loss;
}

std::vector<optim::ParamGroup> PretrainTask::param_groups(double weight_decay) {
  return optim::weight_decay_groups(*model_, weight_decay, options_.trainer.no_weight_decay);
}

std::map<std::string, std::string> PretrainTask::checkpoint_metadata() {
  const auto& t = options_.data.transform;
  return facts_metadata(ModelFacts::of_mae(model_->options(), options_.mask_ratio, t.mean, t.std), options_.config_yaml);
}

data::Split PretrainTask::picture_split() const {
  return data::has_split(options_.data.source, data::Split::kVal) ? data::Split::kVal : data::Split::kTrain;
}

void PretrainTask::end_epoch(int64_t epoch, const std::string& run_dir, train::Scalars* summary) {
  if (!core::is_main_process()) return;  // pictures and the k-NN monitor: rank 0 alone
  const bool last = epoch + 1 == options_.trainer.epochs;
  auto due = [&](int64_t every) { return last || (every > 0 && (epoch + 1) % every == 0); };
  if (options_.visualize_num_images > 0 && due(options_.visualize_every)) write_reconstructions(epoch, run_dir, summary);
  if (options_.knn.every > 0 && !knn_off_ && due(options_.knn.every)) run_knn(summary);
}

eval::ClassificationMetrics PretrainTask::encoder_knn(models::MaskedAutoencoderViT& mae) {
  if (!knn_vit_) {
    knn_vit_ = encoder_as_vit(mae, options_.knn.pool == Pool::kMean);
  } else {
    copy_encoder(mae, knn_vit_);
  }
  const auto& o = mae->options();
  return knn_accuracy([&](const torch::Tensor& x) { return knn_vit_->forward(x); }, options_.knn, options_.data, splits_,
                      o.in_chans, o.img_h, o.img_w, device_, &knn_bank_);
}

bool PretrainTask::start_knn() {
  if (options_.knn.every == 0) return false;
  if (!data::has_split(options_.data.source, data::Split::kVal)) {
    core::log_info("k-NN monitor off (knn.every " + std::to_string(options_.knn.every) +
                   "): no val split to query (data.val_files is empty)");
    knn_off_ = true;
    return false;
  }
  if (splits_.num_classes(data::Split::kTrain) == 0) {
    core::log_warning("k-NN monitor off (knn.every " + std::to_string(options_.knn.every) +
                      "): the train split has no labels to vote with");
    knn_off_ = true;
    return false;
  }
  if (options_.knn_random_init && core::is_main_process()) {
    // The initial weights again (same seed), whatever was loaded since; LibTorch's generator is left as it was.
    auto generator = at::detail::getDefaultCPUGenerator();
    const auto state = generator.get_state();
    torch::manual_seed(options_.trainer.seed);
    models::MaskedAutoencoderViT fresh(options_.model);
    generator.set_state(state);
    fresh->to(device_);
    const auto m = encoder_knn(fresh);
    knn_random_init_ = m.top1;
    knn_queries_ = m.count;
    core::log_info(str("k-NN top-1 of the randomly initialised encoder: ", m.top1, " % (the baseline for pretraining)"));
  }
  return true;
}

void PretrainTask::run_knn(train::Scalars* summary) {
  const auto m = encoder_knn(model_);
  knn_last_ = m.top1;
  knn_queries_ = m.count;
  summary->emplace_back("knn_top1", m.top1);
  summary->emplace_back("knn_top" + std::to_string(m.top_k), m.topk);
  if (knn_random_init_) summary->emplace_back("knn_top1_random_init", *knn_random_init_);
}

std::string PretrainTask::knn_comparison() const {
  if (!knn_last_) return "";
  const std::string setup = str("k ", options_.knn.k, ", ", knn_bank_, " train / ", knn_queries_, " val images");
  if (!knn_random_init_) return str("k-NN top-1 (", setup, "): after pretraining ", *knn_last_, " %");
  return str("k-NN top-1 (", setup, "): random init ", *knn_random_init_, " % -> after pretraining ", *knn_last_, " %");
}

void PretrainTask::write_reconstructions(int64_t epoch, const std::string& run_dir, train::Scalars* summary) {
  const auto& o = model_->options();
  // Per-band rows: the first images only, so that the picture stays a picture (8 images of 6 bands
  // would be 48 rows).
  const int64_t count = eval::images_in_picture(options_.visualize_num_images, o.in_chans, options_.visualize_channels);
  data::LoaderOptions lo;
  lo.batch_size = count;
  lo.num_workers = 1;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.seed = options_.trainer.seed;
  auto loader = data::make_loader(options_.data, picture_split(), splits_.get(picture_split()), o.in_chans, o.img_h, o.img_w, lo);
  data::Batch batch;
  if (!loader->next(&batch)) return;
  const auto noise = masking_noise(batch.indices, epoch).to(device_);
  auto r = eval::reconstruct(model_, batch.images.to(device_), options_.mask_ratio, noise, options_.data.transform.mean,
                             options_.data.transform.std);
  const std::string dir = run_dir + "/reconstructions";
  std::filesystem::create_directories(dir);
  char name[64];
  std::snprintf(name, sizeof(name), "/epoch-%04lld.png", static_cast<long long>(epoch + 1));
  std::string caption = "columns: original | masked | reconstruction | reconstruction with visible patches pasted";
  const std::string note = r.used_patch_statistics ? "norm_pix_loss: prediction un-normalised with the true patch mean/variance" : "";
  if (!note.empty()) caption += "; " + note;
  io::write_png(dir + name, eval::reconstruction_grid(eval::picture_bands(r, options_.visualize_channels), str("epoch ", epoch + 1, ". ", note)),
                {{"Description", caption}});
  summary->emplace_back("vis_masked_loss", r.masked_patch_loss.mean().item<double>());
}

train::TrainResult run_pretrain(const PretrainOptions& resolved, const torch::Device& device, const PretrainRequest& request) {
  PretrainOptions options = resolved;  // train.precision=auto is settled below
  const train::TrainerOptions& trainer_options = options.trainer;
  const std::string& run_dir = trainer_options.run_dir;
  train::check_run_folder(run_dir, !request.resume.empty(), request.overwrite);
  PretrainTask task(options, device);
  const auto& o = task.mae()->options();
  const auto& t = options.data.transform;
  TrainingRunSpec spec = training_run_spec(options, o, ModelFacts::of_mae(o, options.mask_ratio, t.mean, t.std),
                                           request.resume, request.overwrite);
  spec.data = &options.data;
  // The train split is indexed only where a sample is looked at (wds shards are streamed as they are).
  if (options.data.source.kind != data::SourceKind::kWds) spec.train_source = task.splits().get(data::Split::kTrain);
  TrainingRun run = start_training_run(spec, task, device);
  const auto& loader = run.loader;
  const bool resumed = run.resumed;
  core::log_info(describe_lr(trainer_options));
  core::log_info(str("model: ", models::mae_name(o), ", ", o.img_h, "x", o.img_w, "x", o.in_chans, ", patch ", o.patch_size,
                     ", encoder ", o.embed_dim, "d x ", o.depth, ", decoder ", o.decoder_embed_dim, "d x ", o.decoder_depth,
                     ", norm_pix_loss ", o.norm_pix_loss ? "on" : "off", "; data: ", loader->dataset_size(), " images, ",
                     loader->batches_per_epoch(), " steps per epoch"));
  if (!resumed && !request.init.empty()) {
    weights::LoadOptions load;
    load.non_strict = request.non_strict;
    const weights::LoadReport report = weights::load_weights(task.model(), request.init, load);
    core::log_info("initialised weights from " + request.init + " (optimizer and schedule start fresh):\n" + report.to_string());
  }
  if (options.visualize_num_images > 0 && task.picture_split() == data::Split::kTrain) {
    core::log_info(str("no val split (data.val_files is empty): the reconstruction pictures show the first ",
                       eval::images_in_picture(options.visualize_num_images, o.in_chans, options.visualize_channels), " train images"));
  }
  task.start_knn();
  train::TrainResult result = run.trainer->fit();
  core::log_info(str("pretraining ", result.stopped_early ? "stopped (train.max_steps)" : "done", ": ", result.epochs_completed,
                     " epoch(s), ", result.steps, " optimizer step(s) (", result.skipped_steps, " skipped as non-finite",
                     result.overflow_steps > 0 ? str(", ", result.overflow_steps, " skipped by the fp16 loss scaler") : "", "), loss ",
                     result.first_loss, " at the first step -> ", result.last_loss, " at the last, ", result.seconds,
                     " s; checkpoints in ", run_dir, skipped_reads(*loader)));
  if (!task.knn_comparison().empty()) core::log_info(task.knn_comparison());
  return result;
}

}  // namespace mae::tasks
