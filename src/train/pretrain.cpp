#include "mae/train/pretrain.h"

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
#include "mae/eval/reconstruction.h"
#include "mae/io/load_state_dict.h"
#include "mae/io/png_writer.h"
#include "mae/models/presets.h"
#include "mae/train/knn_monitor.h"
#include "mae/train/schedule.h"

namespace mae::train {
namespace {

constexpr uint64_t kMaskStream = 0x6d61736bull;  // "mask"


}  // namespace

core::Config pretrain_config() {
  core::Config c;
  models::add_model_config(c);
  data::add_data_config(c);
  add_trainer_config(c);
  c.add("visualize.num_images", core::ValueType::kInt, "8", "images in the reconstruction picture after each visualised epoch");
  c.add("visualize.every", core::ValueType::kInt, "0", "write reconstructions every N epochs (0: after the last only)");
  add_knn_config(c);
  // The built-in default: a small MAE on Fashion-MNIST (28x28 grey, 7x7 patches of 4 pixels).
  c.set_default("model.name", "mae_vit_tiny_patch4");
  c.set_default("model.img_size", "28");
  c.set_default("model.in_chans", "1");
  c.set_default("model.embed_dim", "128");
  c.set_default("model.depth", "6");
  c.set_default("model.num_heads", "4");
  c.set_default("model.decoder_embed_dim", "64");
  c.set_default("model.decoder_depth", "2");
  c.set_default("model.decoder_num_heads", "4");
  c.set_default("train.epochs", "5");      // about 6 minutes on 2 cores; the loss falls from ~1.1 to ~0.6
  c.set_default("optim.blr", "1e-3");     // short schedules of small ViTs want a higher lr than 1.5e-4
  c.set_default("data.num_workers", "1");  // in-memory 28x28 images: one thread feeds the model, the rest compute
  return c;
}

std::map<std::string, std::string> mae_checkpoint_metadata(const core::Config& config, const models::MaeViTOptions& o) {
  auto facts = encoder_facts(o);
  facts.insert({{kConfigKey, config.to_yaml()},
                {"model", "mae"},
                {"model_name", config.get_string("model.name")},
                {"decoder_embed_dim", std::to_string(o.decoder_embed_dim)},
                {"decoder_depth", std::to_string(o.decoder_depth)},
                {"decoder_num_heads", std::to_string(o.decoder_num_heads)},
                {"norm_pix_loss", o.norm_pix_loss ? "true" : "false"},
                {"mask_ratio", std::to_string(config.get_float("model.mask_ratio"))},
                {"mean", join_values(config.get_float_list("data.mean"))},
                {"std", join_values(config.get_float_list("data.std"))}});
  return facts;
}

PretrainTask::PretrainTask(const core::Config& config, torch::Device device)
    : config_(config), device_(device), mask_ratio_(config.get_float("model.mask_ratio")),
      seed_(static_cast<uint64_t>(config.get_int("train.seed"))) {
  torch::manual_seed(seed_);  // the initial weights
  model_ = models::MaskedAutoencoderViT(models::mae_options_from_config(config));
  model_->to(device_);
}

torch::Tensor PretrainTask::masking_noise(const torch::Tensor& indices, int64_t epoch) const {
  return core::per_sample_uniform(indices, core::derive_seed(seed_, {kMaskStream, static_cast<uint64_t>(epoch)}),
                                  model_->options().num_patches());
}

torch::Tensor PretrainTask::loss(const data::Batch& batch, int64_t epoch, Scalars* scalars) {
  const auto noise = masking_noise(batch.indices, epoch).to(device_, /*non_blocking=*/true);
  return model_->forward(batch.images, mask_ratio_, noise).loss;
}

std::vector<ParamGroup> PretrainTask::param_groups(double weight_decay) {
  return weight_decay_groups(*model_, weight_decay, split_names(config_.get_string("optim.no_weight_decay")));
}

std::map<std::string, std::string> PretrainTask::checkpoint_metadata() {
  return mae_checkpoint_metadata(config_, model_->options());
}

void PretrainTask::end_epoch(int64_t epoch, const std::string& run_dir, Scalars* summary) {
  if (!core::is_main_process()) return;  // pictures and the k-NN monitor: rank 0 alone
  const bool last = epoch + 1 == config_.get_int("train.epochs");
  auto due = [&](int64_t every) { return last || (every > 0 && (epoch + 1) % every == 0); };
  if (config_.get_int("visualize.num_images") > 0 && due(config_.get_int("visualize.every"))) {
    write_reconstructions(epoch, run_dir, summary);
  }
  const int64_t knn_every = config_.get_int("knn.every");
  if (knn_every > 0 && due(knn_every)) run_knn(summary);
}

void PretrainTask::run_knn(Scalars* summary) {
  const std::string pool = config_.get_string("knn.pool");
  MAE_CHECK_USAGE(pool == "cls" || pool == "mean", "knn.pool must be cls or mean, got '", pool, "'");
  if (!knn_vit_) {
    knn_vit_ = encoder_as_vit(model_, pool == "mean");
  } else {
    copy_encoder(model_, knn_vit_);
  }
  const auto& o = model_->options();
  const auto m = knn_accuracy([&](const torch::Tensor& x) { return knn_vit_->forward(x); }, config_, o.in_chans, o.img_h,
                              o.img_w, device_);
  summary->emplace_back("knn_top1", m.top1);
  summary->emplace_back("knn_top" + std::to_string(m.top_k), m.topk);
}

void PretrainTask::write_reconstructions(int64_t epoch, const std::string& run_dir, Scalars* summary) {
  const int64_t count = config_.get_int("visualize.num_images");
  const auto& o = model_->options();
  data::LoaderOptions lo;
  lo.batch_size = count;
  lo.num_workers = 1;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.seed = seed_;
  auto loader = data::make_loader(config_, data::Split::kVal, o.in_chans, o.img_h, o.img_w, lo);
  data::Batch batch;
  if (!loader->next(&batch)) return;
  const auto noise = masking_noise(batch.indices, epoch).to(device_);
  auto r = eval::reconstruct(model_, batch.images.to(device_), mask_ratio_, noise, config_.get_float_list("data.mean"),
                             config_.get_float_list("data.std"));
  const std::string dir = run_dir + "/reconstructions";
  std::filesystem::create_directories(dir);
  char name[64];
  std::snprintf(name, sizeof(name), "/epoch-%04lld.png", static_cast<long long>(epoch + 1));
  std::string caption = "columns: original | masked | reconstruction | reconstruction with visible patches pasted";
  if (r.used_patch_statistics) caption += "; norm_pix_loss: prediction un-normalised with the true patch mean/variance";
  io::write_png(dir + name, eval::reconstruction_grid(r), {{"Description", caption}});
  summary->emplace_back("vis_masked_loss", r.masked_patch_loss.mean().item<double>());
}

TrainResult run_pretrain(const core::Config& config, const torch::Device& device, const PretrainRequest& request) {
  TrainerOptions options = trainer_options_from_config(config);
  const std::string& run_dir = options.run_dir;
  std::filesystem::create_directories(run_dir);
  if (core::is_main_process()) std::ofstream(run_dir + "/config.yaml") << config.to_yaml();
  core::log_info("resolved config (saved to " + run_dir + "/config.yaml):\n" + config.to_yaml());
  core::log_info(core::describe_runtime() + ", device " + device.str());

  PretrainTask task(config, device);
  const auto& o = task.mae()->options();
  data::LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.num_workers = static_cast<int>(config.get_int("data.num_workers"));
  lo.seed = options.seed;
  lo.pin_memory = device.is_cuda();
  lo.rank = dist::rank();
  lo.world_size = dist::world_size();
  auto loader = data::make_loader(config, data::Split::kTrain, o.in_chans, o.img_h, o.img_w, lo);

  const int64_t effective_batch = options.batch_size * options.accum_iter * options.world_size;
  if (options.lr > 0) {
    core::log_info(str("lr: ", options.lr, " (absolute; optim.blr ignored), effective batch ", effective_batch));
  } else {
    core::log_info(str("base lr: ", options.blr, ", effective batch: ", options.batch_size, " x ", options.accum_iter,
                       " accum x ", options.world_size, " process(es) = ", effective_batch, ", lr: ", options.effective_lr(),
                       " (= blr * ", effective_batch, " / 256)"));
  }
  core::log_info(str("model: ", config.get_string("model.name"), ", ", o.img_h, "x", o.img_w, "x", o.in_chans,
                     ", patch ", o.patch_size, ", encoder ", o.embed_dim, "d x ", o.depth, ", decoder ", o.decoder_embed_dim,
                     "d x ", o.decoder_depth, ", norm_pix_loss ", o.norm_pix_loss ? "on" : "off", "; data: ",
                     loader->dataset_size(), " images, ", loader->batches_per_epoch(), " steps per epoch"));

  Trainer trainer(options, task, *loader, device);
  if (!trainer.resume(request.resume) && !request.init.empty()) {
    io::LoadOptions load;
    load.non_strict = request.non_strict;
    const io::LoadReport report = io::load_weights(task.model(), request.init, load);
    core::log_info("initialised weights from " + request.init + " (optimizer and schedule start fresh):\n" + report.to_string());
  }
  TrainResult result = trainer.fit();
  core::log_info(str("pretraining ", result.stopped_early ? "stopped (train.max_steps)" : "done", ": ", result.epochs_completed,
                     " epoch(s), ", result.steps, " step(s) (", result.skipped_steps, " skipped), loss ", result.first_loss,
                     " at the first step -> ", result.last_loss, " at the last, ", result.seconds, " s; checkpoints in ", run_dir));
  return result;
}

}  // namespace mae::train
