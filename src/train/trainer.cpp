#include "mae/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/rng.h"
#include "mae/core/runtime.h"
#include "mae/distributed/process_group.h"
#include "mae/models/block.h"
#include "mae/train/precision.h"
#include "mae/optim/schedule.h"

namespace mae::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr uint64_t kTorchSeedStream = 0x746f726368ull;  // "torch": per-epoch seed of LibTorch's generator

data::Batch to_device(const data::Batch& b, const torch::Device& device) {
  if (device.is_cpu()) return b;
  return {b.images.to(device, /*non_blocking=*/true), b.labels.to(device, true), b.indices};
}

}  // namespace

double TrainerOptions::effective_lr() const {
  return lr > 0 ? lr : optim::scaled_lr(blr, batch_size, accum_iter, world_size);
}

std::string describe_lr(const TrainerOptions& o) {
  const int64_t effective_batch = o.batch_size * o.accum_iter * o.world_size;
  const std::string batch = str("effective batch ", effective_batch, " = ", o.batch_size, " per process x ", o.accum_iter,
                                " accum x ", o.world_size, " process(es)");
  if (o.lr > 0) return str(batch, "; lr ", o.lr, " (optim.lr, absolute: optim.blr ", o.blr, " is not used)");
  return str(batch, "; base lr ", o.blr, ", lr ", o.effective_lr(), " (= blr * ", effective_batch, " / 256)");
}

void TrainerOptions::validate() const {
  MAE_CHECK_USAGE(epochs > 0, "train.epochs must be positive, got ", epochs);
  MAE_CHECK_USAGE(batch_size > 0, "train.batch_size must be positive, got ", batch_size);
  MAE_CHECK_USAGE(accum_iter > 0, "train.accum_iter must be positive, got ", accum_iter);
  MAE_CHECK_USAGE(warmup_epochs >= 0, "train.warmup_epochs must be >= 0, got ", warmup_epochs);
  MAE_CHECK_USAGE(blr > 0 || lr > 0, "optim.blr (or optim.lr) must be positive");
  MAE_CHECK_USAGE(lr >= 0 && min_lr >= 0, "optim.lr and optim.min_lr must be >= 0");
  MAE_CHECK_USAGE(weight_decay >= 0, "optim.weight_decay must be >= 0, got ", weight_decay);
  MAE_CHECK_USAGE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "optim.betas [", beta1, ", ", beta2,
                  "] must lie in [0, 1)");
  MAE_CHECK_USAGE(optimizer == "adamw" || optimizer == "lars", "optim.optimizer must be adamw or lars, got '", optimizer, "'");
  MAE_CHECK_USAGE(clip_grad >= 0, "train.clip_grad must be >= 0 (0: off), got ", clip_grad);
  wants_bf16(precision);  // validates train.precision
  MAE_CHECK_USAGE(!run_dir.empty(), "train.output_dir must not be empty");
  MAE_CHECK_USAGE(save_every >= 0 && keep_last >= 0, "train.save_every and train.keep_last must be >= 0");
  MAE_CHECK_USAGE(log_every > 0, "log.every must be positive, got ", log_every);
  MAE_CHECK_USAGE(progress == "auto" || progress == "bar" || progress == "lines" || progress == "none",
                  "log.progress must be auto, bar, lines or none, got '", progress, "'");
  MAE_CHECK_USAGE(nonfinite_patience > 0, "train.nonfinite_patience must be positive");
  MAE_CHECK_USAGE(nonfinite_action == "stop" || nonfinite_action == "continue",
                  "train.nonfinite_action must be stop or continue, got '", nonfinite_action, "'");
  MAE_CHECK_USAGE(nonfinite_lr_factor > 0 && nonfinite_lr_factor <= 1, "train.nonfinite_lr_factor must lie in (0, 1]");
  MAE_CHECK_USAGE(max_steps >= 0, "train.max_steps must be >= 0 (0: off)");
  MAE_CHECK_USAGE(bucket_mb > 0, "train.bucket_mb must be positive, got ", bucket_mb);
}

Trainer::Trainer(TrainerOptions options, Task& task, data::Loader& loader, torch::Device device)
    : options_(std::move(options)), task_(task), loader_(loader), device_(device) {
  options_.validate();
  models::set_grad_checkpointing(task_.model(), options_.grad_checkpointing);
  groups_ = task_.param_groups(options_.weight_decay);
  MAE_CHECK(!groups_.empty(), "the model has no trainable parameters");
  if (options_.optimizer == "lars") {
    optimizer_ = optim::make_lars(groups_);
  } else {
    optimizer_ = optim::make_adamw(groups_, options_.beta1, options_.beta2, 1e-8, options_.fused_optimizer);
  }
  for (const auto& g : groups_) trainable_.insert(trainable_.end(), g.params.begin(), g.params.end());
  sync_ = std::make_unique<distributed::GradientSync>(trainable_, options_.bucket_mb);
  std::filesystem::create_directories(options_.run_dir);
}

void Trainer::resume_from(const std::string& stem) {
  load_checkpoint(stem, task_.model(), optimizer_.get(), &groups_, &state_);
  last_good_stem_ = stem;
  core::log_info(str("resumed from ", stem, ": ", state_.epoch, " epoch(s) done, ", state_.iteration, " step(s)"));
}

bool Trainer::resume(const std::string& request) {
  if (request.empty()) return false;
  if (request != "auto") {
    resume_from(checkpoint_stem_of(request));
    return true;
  }
  if (auto stem = find_latest_checkpoint(options_.run_dir)) {
    resume_from(*stem);
    return true;
  }
  core::log_info("--resume auto: no checkpoint in " + options_.run_dir + " yet; starting fresh");
  return false;
}

void Trainer::save(bool numbered) {
  const std::string last = last_checkpoint_stem(options_.run_dir);
  if (core::is_main_process()) {  // the ranks hold identical weights and optimizer states
    const auto metadata = task_.checkpoint_metadata();
    if (numbered) {
      save_checkpoint(checkpoint_stem(options_.run_dir, state_.epoch), task_.model(), metadata, optimizer_.get(), &groups_, &state_);
      prune_checkpoints(options_.run_dir, options_.keep_last);
    }
    save_checkpoint(last, task_.model(), metadata, optimizer_.get(), &groups_, &state_);
  }
  distributed::barrier("checkpoint " + last);  // every rank may now roll back to it
  last_good_stem_ = last;
}

bool Trainer::step(double loss_value, double* grad_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : trainable_) {
    if (p.grad().defined()) norms.push_back(p.grad().detach().norm(2, {}, false, torch::kFloat32));
  }
  *grad_norm = norms.empty() ? 0.0 : torch::stack(norms).norm().item<double>();
  if (!std::isfinite(loss_value) || !std::isfinite(*grad_norm)) {
    optimizer_->zero_grad(true);
    return false;
  }
  if (options_.clip_grad > 0 && *grad_norm > options_.clip_grad) {
    torch::NoGradGuard no_grad;
    const double scale = options_.clip_grad / (*grad_norm + 1e-6);
    for (auto& p : trainable_) {
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
    }
  }
  optimizer_->step();
  optimizer_->zero_grad(true);
  return true;
}

void Trainer::handle_nonfinite(int64_t consecutive) {
  MAE_CHECK(!last_good_stem_.empty(), consecutive, " non-finite steps in a row and no checkpoint to return to");
  const int64_t skipped = state_.skipped_steps;  // the count survives the rollback
  const double lr_factor = state_.lr_factor;
  load_checkpoint(last_good_stem_, task_.model(), optimizer_.get(), &groups_, &state_);
  state_.skipped_steps = skipped;
  state_.lr_factor = lr_factor;
  if (options_.nonfinite_action == "stop") {
    throw Error(str(consecutive, " non-finite steps in a row (loss or gradient NaN/Inf); restored the last good checkpoint ",
                    last_good_stem_, " (epoch ", state_.epoch, ") and stopped. Lower optim.blr, set train.clip_grad, ",
                    "or use train.precision=fp32, then continue with --resume auto"));
  }
  state_.lr_factor *= options_.nonfinite_lr_factor;
  core::log_warning(str(consecutive, " non-finite steps in a row; restored ", last_good_stem_, " (epoch ", state_.epoch,
                        ") and continue with the lr scaled by ", state_.lr_factor));
}

TrainResult Trainer::fit() {
  const int64_t steps_per_epoch = loader_.batches_per_epoch();
  MAE_CHECK(steps_per_epoch > 0, "the dataset (", loader_.dataset_size(), " samples) gives no full batch of ",
            options_.batch_size, "; lower train.batch_size");
  const bool bf16 = wants_bf16(options_.precision);
  const optim::LrSchedule schedule{options_.effective_lr(), options_.min_lr, options_.warmup_epochs, static_cast<double>(options_.epochs)};
  std::unique_ptr<MetricsLog> metrics;
  if (core::is_main_process()) metrics = std::make_unique<MetricsLog>(options_.run_dir, options_.jsonl, options_.tensorboard);
  Progress progress(options_.progress, options_.epochs, steps_per_epoch, options_.log_every);
  distributed::broadcast_module(task_.model());  // identical starting weights on every rank
  if (distributed::initialized()) {
    // Every rank must have resumed from the same checkpoint (they all read the run folder).
    // Equal everywhere iff the sums of the values and of their squares agree (zero variance).
    const double e = static_cast<double>(state_.epoch), s = static_cast<double>(state_.iteration);
    auto sums = torch::tensor({e, s, e * e, s * s}, torch::kFloat64);
    distributed::all_reduce_sum(sums, "resume position check");
    const double w = distributed::world_size();
    const bool same = sums[2].item<double>() * w == std::pow(sums[0].item<double>(), 2) &&
                      sums[3].item<double>() * w == std::pow(sums[1].item<double>(), 2);
    MAE_CHECK(same, "rank ", distributed::rank(), " starts at epoch ", state_.epoch, ", step ",
              state_.iteration, " but the ranks disagree: every rank must read the same run folder ", options_.run_dir,
              " (a shared file system) for checkpoints and --resume");
  }
  if (last_good_stem_.empty()) save(false);  // the point a non-finite rollback returns to
  const bool distributed = sync_->active();
  if (distributed) {
    core::log_info(str("gradient sync: ", sync_->num_buckets(), " bucket(s) of up to ", options_.bucket_mb, " MiB, ",
                       sync_->bytes_per_step() / 1e6, " MB all-reduced per optimizer step, started during backward"));
  }

  TrainResult result;
  const auto run_start = Clock::now();
  int64_t consecutive_nonfinite = 0, steps_this_process = 0;
  bool first_loss_seen = false;
  for (int64_t epoch = state_.epoch; epoch < options_.epochs; ++epoch) {
    // Each rank its own stream (drop path), as the official code's seed + rank; rank 0's is the
    // single-process one.
    const auto rank = static_cast<uint64_t>(distributed::rank());
    torch::manual_seed(rank == 0 ? core::derive_seed(options_.seed, {kTorchSeedStream, static_cast<uint64_t>(epoch)})
                                 : core::derive_seed(options_.seed, {kTorchSeedStream, static_cast<uint64_t>(epoch), rank}));
    loader_.set_epoch(epoch);
    task_.model().train();
    optimizer_->zero_grad(true);
    core::reset_peak_memory(device_);

    const auto epoch_start = Clock::now();
    auto window_start = epoch_start;
    double window_loss = 0, epoch_loss = 0, grad_norm = 0, lr = 0, window_wait_mark = 0, window_comm_mark = sync_->exposed_seconds();
    int64_t window_steps = 0, window_samples = 0, epoch_steps = 0;
    bool window_nonfinite = false, rolled_back = false;
    Scalars extra, shown;
    data::Batch batch;
    for (int64_t i = 0; loader_.next(&batch); ++i) {
      if (i % options_.accum_iter == 0) {
        lr = schedule.at(static_cast<double>(epoch) + static_cast<double>(i) / steps_per_epoch) * state_.lr_factor;
        optim::set_lr(*optimizer_, groups_, lr);
        window_nonfinite = false;
      }
      const data::Batch b = to_device(batch, device_);
      torch::Tensor loss;
      {
        AutocastGuard autocast(device_, bf16);
        loss = task_.loss(b, epoch, &extra);
      }
      double loss_value = loss.item<double>();
      const bool final_micro_step = (i + 1) % options_.accum_iter == 0;
      if (!std::isfinite(loss_value)) window_nonfinite = true;
      if (std::isfinite(loss_value) || distributed) {  // every rank must join the gradient all-reduce
        sync_->arm(final_micro_step);
        (loss / static_cast<double>(options_.accum_iter)).backward();
      }
      if (!first_loss_seen && std::isfinite(loss_value)) result.first_loss = loss_value, first_loss_seen = true;
      window_samples += b.images.size(0);
      if (!final_micro_step) continue;

      if (distributed) {
        sync_->finish();
        // One decision for all ranks: skip when any rank saw a non-finite loss; log the mean loss.
        auto agreed = torch::tensor({window_nonfinite ? 1.0 : 0.0, window_nonfinite ? 0.0 : loss_value}, torch::kFloat64);
        distributed::all_reduce_sum(agreed, "loss");
        window_nonfinite = agreed[0].item<double>() > 0;
        loss_value = agreed[1].item<double>() / options_.world_size;
      }
      ++state_.iteration;
      distributed::set_progress(state_.iteration);
      ++steps_this_process;
      if (step(window_nonfinite ? NAN : loss_value, &grad_norm)) {
        consecutive_nonfinite = 0;
        window_loss += loss_value;
        epoch_loss += loss_value;
        ++window_steps;
        ++epoch_steps;
      } else {
        ++state_.skipped_steps;
        ++consecutive_nonfinite;
        core::log_warning(str("step ", state_.iteration, ": non-finite ", window_nonfinite ? "loss" : "gradient norm",
                              "; step skipped (", consecutive_nonfinite, " in a row, ", state_.skipped_steps, " in all)"));
        if (consecutive_nonfinite >= options_.nonfinite_patience) {
          handle_nonfinite(consecutive_nonfinite);
          consecutive_nonfinite = 0;
          rolled_back = true;
          break;
        }
      }
      const bool last_step = options_.max_steps > 0 && steps_this_process >= options_.max_steps;
      // The window is written at the log interval, at the epoch's end, and when train.max_steps stops the run.
      const bool log_now = state_.iteration % options_.log_every == 0 || i + 1 == steps_per_epoch || last_step;
      if (log_now && window_steps > 0) {
        const double elapsed = seconds_since(window_start);
        const double wait = loader_.wait_seconds() - window_wait_mark;
        Scalars scalars = {{"loss", window_loss / window_steps},
                           {"lr", lr},
                           {"grad_norm", grad_norm},
                           {"img_per_s", window_samples * options_.world_size / std::max(elapsed, 1e-9)},
                           {"data_wait", wait / std::max(elapsed, 1e-9)},
                           {"peak_mem_mb", core::peak_memory_mb(device_)}};
        if (distributed) scalars.emplace_back("comm_wait", (sync_->exposed_seconds() - window_comm_mark) / std::max(elapsed, 1e-9));
        scalars.insert(scalars.end(), extra.begin(), extra.end());
        if (metrics) metrics->write(state_.iteration, epoch + static_cast<double>(i + 1) / steps_per_epoch, scalars);
        shown = scalars;
        result.last_loss = scalars.front().second;
        window_loss = 0, window_steps = 0, window_samples = 0;
        window_start = Clock::now();
        window_wait_mark = loader_.wait_seconds();
        window_comm_mark = sync_->exposed_seconds();
      }
      progress.update(epoch, i, shown);
      extra.clear();
      if (last_step) {
        result.stopped_early = true;
        break;
      }
    }
    if (rolled_back) {
      epoch = state_.epoch - 1;  // the loop's ++ returns to the restored checkpoint's epoch
      continue;
    }
    if (result.stopped_early) break;

    state_.epoch = epoch + 1;
    const double epoch_seconds = seconds_since(epoch_start);
    const double wait_share = loader_.wait_seconds() / std::max(epoch_seconds, 1e-9);
    result.last_epoch_loss = epoch_steps > 0 ? epoch_loss / epoch_steps : NAN;
    Scalars summary = {{"loss", result.last_epoch_loss}, {"seconds", epoch_seconds}, {"data_wait", wait_share}};
    if (loader_.skipped_samples() > 0) summary.emplace_back("skipped_samples", static_cast<double>(loader_.skipped_samples()));
    task_.end_epoch(epoch, options_.run_dir, &summary);
    if (wait_share > 0.25) {
      core::log_warning(str("epoch ", epoch + 1, ": ", static_cast<int>(100 * wait_share),
                            "% of the time was spent waiting for data; raise data.num_workers or lower the augmentation cost"));
    }
    progress.end_epoch(epoch, summary);
    if (metrics) {
      Scalars epoch_scalars;
      for (const auto& [name, value] : summary) epoch_scalars.emplace_back("epoch_" + name, value);
      metrics->write(state_.iteration, static_cast<double>(epoch + 1), epoch_scalars);
      metrics->flush();
    }
    save(options_.save_every > 0 && (state_.epoch % options_.save_every == 0 || state_.epoch == options_.epochs));
  }
  result.epochs_completed = state_.epoch;
  result.steps = state_.iteration;
  result.skipped_steps = state_.skipped_steps;
  result.seconds = seconds_since(run_start);
  result.comm_wait_seconds = sync_->exposed_seconds();
  if (distributed) {
    core::log_info(str("gradient sync: ", sync_->launches(), " bucket all-reduces; the steps waited ", result.comm_wait_seconds,
                       " s for them after backward (", 100 * result.comm_wait_seconds / std::max(result.seconds, 1e-9), " % of the run)"));
  }
  return result;
}

}  // namespace mae::train
