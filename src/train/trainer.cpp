#include "mae/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/rng.h"
#include "mae/core/runtime.h"
#include "mae/core/stop_signal.h"
#include "mae/distributed/process_group.h"
#include "mae/models/block.h"
#include "mae/train/precision.h"
#include "mae/optim/schedule.h"

namespace mae::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr uint64_t kTorchSeedStream = 0x746f726368ull;  // "torch": per-epoch seed of LibTorch's generator

}  // namespace

// What is accumulated between two metric records, and over the epoch.
struct Trainer::Window {
  Clock::time_point epoch_start, start;
  double loss = 0, epoch_loss = 0, grad_norm = 0, lr = 0, wait_mark = 0, comm_mark = 0;
  double loss_value = 0;  // the current optimizer step's loss (the micro-batches' last)
  int64_t steps = 0, samples = 0, epoch_steps = 0, overflows = 0;
  bool nonfinite = false;  // a micro-batch of the current step had a non-finite loss
  Scalars extra, shown;
};

Trainer::Trainer(TrainerOptions options, Task& task, data::BatchSource& batches, torch::Device device)
    : options_(std::move(options)), task_(task), batches_(batches), device_(device),
      precision_(options_.precision) {
  options_.validate();
  check_settled(precision_);
  set_tf32(options_.tf32);
  models::set_grad_checkpointing(task_.model(), options_.grad_checkpointing);
  groups_ = task_.param_groups(options_.weight_decay);
  MAE_CHECK(!groups_.empty(), "the model has no trainable parameters");
  if (options_.optimizer == OptimizerKind::kLars) {
    optimizer_ = optim::make_lars(groups_);
  } else {
    optimizer_ = optim::make_adamw(groups_, options_.beta1, options_.beta2, 1e-8, options_.fused_optimizer);
  }
  for (const auto& g : groups_) trainable_.insert(trainable_.end(), g.params.begin(), g.params.end());
  sync_ = std::make_unique<distributed::GradientSync>(trainable_, options_.bucket_mb);
  std::filesystem::create_directories(options_.run_dir);
}

Trainer::~Trainer() = default;

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
  // The newest checkpoint that loads completely; a damaged one (bad checksum, cut short) is passed over.
  const auto candidates = checkpoint_candidates(options_.run_dir);
  for (const auto& stem : candidates) {
    try {
      resume_from(stem);
      return true;
    } catch (const Error& e) {
      core::log_warning(str("--resume auto: skipping checkpoint ", stem, ": ", e.what(), "; trying the one before"));
    }
  }
  MAE_CHECK(candidates.empty(), "--resume auto: none of the ", candidates.size(), " checkpoints in ", options_.run_dir,
            " loads (see the warnings above); restore one from a backup, or start a new run in another folder");
  core::log_info("--resume auto: no checkpoint in " + options_.run_dir + " yet; starting fresh");
  return false;
}

void Trainer::save(bool numbered) {
  const std::string last = last_checkpoint_stem(options_.run_dir);
  const bool inside_epoch = state_.batches_done > 0;  // end_epoch zeroes it
  state_.epoch_loss_sum = inside_epoch ? window_->epoch_loss : 0.0;
  state_.epoch_loss_steps = inside_epoch ? window_->epoch_steps : 0;
  std::exception_ptr failure;
  if (core::is_main_process()) {  // the ranks hold identical weights and optimizer states
    try {
      const auto metadata = task_.checkpoint_metadata();
      if (numbered) {
        save_checkpoint(checkpoint_stem(options_.run_dir, state_.epoch), task_.model(), metadata, optimizer_.get(), &groups_,
                        &state_);
        prune_checkpoints(options_.run_dir, options_.keep_last);
      }
      keep_as_previous(last);
      save_checkpoint(last, task_.model(), metadata, optimizer_.get(), &groups_, &state_);
    } catch (...) {
      failure = std::current_exception();  // the other ranks still wait at the barrier
    }
  }
  distributed::barrier("checkpoint " + last);  // every rank may now roll back to it
  if (failure) std::rethrow_exception(failure);
  last_good_stem_ = last;
  last_save_ = Clock::now();
}

Trainer::StepOutcome Trainer::step(double loss_value, double* grad_norm) {
  const bool fp16 = precision_ == Precision::kFp16;
  if (fp16) LossScaler::unscale(trainable_, state_.loss_scale);
  std::vector<torch::Tensor> norms;
  for (const auto& p : trainable_) {
    if (p.grad().defined()) norms.push_back(torch::linalg_vector_norm(p.grad().detach(), 2, std::nullopt, false, torch::kFloat32));
  }
  *grad_norm = norms.empty() ? 0.0 : torch::stack(norms).norm().item<double>();
  if (!std::isfinite(loss_value) || !std::isfinite(*grad_norm)) {
    optimizer_->zero_grad(true);
    // A finite loss with inf/NaN gradients under fp16 is an overflow: the scaler's business. Ranks
    // agree without a word: the all-reduced gradients carry the inf to every rank.
    if (!fp16 || !std::isfinite(loss_value)) return StepOutcome::kNonFinite;
    return scaler_.update(state_.loss_scale, true) == LossScaler::Update::kCollapsed ? StepOutcome::kScaleCollapsed
                                                                                      : StepOutcome::kOverflow;
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
  if (fp16) scaler_.update(state_.loss_scale, false);
  return StepOutcome::kStepped;
}

void Trainer::handle_nonfinite(int64_t consecutive) {
  MAE_CHECK(!last_good_stem_.empty(), consecutive, " non-finite steps in a row and no checkpoint to return to");
  const int64_t skipped = state_.skipped_steps;  // the count survives the rollback
  const double lr_factor = state_.lr_factor;
  load_checkpoint(last_good_stem_, task_.model(), optimizer_.get(), &groups_, &state_);
  state_.skipped_steps = skipped;
  state_.lr_factor = lr_factor;
  if (options_.nonfinite_action == NonfiniteAction::kStop) {
    throw Error(str(consecutive, " non-finite steps in a row (loss or gradient NaN/Inf); restored the last good checkpoint ",
                    last_good_stem_, " (epoch ", state_.epoch, ") and stopped. Lower optim.blr, set train.clip_grad, ",
                    "or use train.precision=fp32 (or bf16 where supported), then continue with --resume auto"));
  }
  state_.lr_factor *= options_.nonfinite_lr_factor;
  core::log_warning(str(consecutive, " non-finite steps in a row; restored ", last_good_stem_, " (epoch ", state_.epoch,
                        ") and continue with the lr scaled by ", state_.lr_factor));
}

TrainResult Trainer::fit() {
  begin_run();
  for (int64_t epoch = state_.epoch; epoch < options_.epochs; ++epoch) {
    const EpochEnd end = train_one_epoch(epoch);
    if (end == EpochEnd::kRolledBack) {
      epoch = state_.epoch - 1;  // the loop's ++ returns to the restored checkpoint's epoch
      continue;
    }
    if (end == EpochEnd::kStopped || end == EpochEnd::kInterrupted) break;
    end_epoch(epoch);
    if (result_.interrupted) break;
  }
  return finish();
}

void Trainer::begin_run() {
  steps_per_epoch_ = batches_.batches_per_epoch();
  MAE_CHECK(steps_per_epoch_ > 0, "the dataset (", batches_.dataset_size(), " samples) gives no full batch of ",
            options_.batch_size, "; lower train.batch_size");
  if (core::is_main_process()) metrics_ = std::make_unique<MetricsLog>(options_.run_dir, options_.jsonl, options_.tensorboard);
  progress_ = std::make_unique<Progress>(options_.progress, options_.epochs, steps_per_epoch_, options_.log_every);
  window_ = std::make_unique<Window>();
  result_ = {};
  steps_this_process_ = consecutive_nonfinite_ = 0;
  first_loss_seen_ = false;
  distributed::broadcast_module(task_.model());  // identical starting weights on every rank
  if (distributed::initialized()) check_ranks_agree_on_position();
  if (last_good_stem_.empty()) save(false);  // the point a non-finite rollback returns to
  if (sync_->active()) {
    core::log_info(str("gradient sync: ", sync_->num_buckets(), " bucket(s) of up to ", options_.bucket_mb, " MiB, ",
                       sync_->bytes_per_step() / 1e6, " MB all-reduced per optimizer step, started during backward"));
  }
  run_start_ = last_save_ = Clock::now();
  stop_agreed_ = false;
}

// Every rank must have resumed from the same checkpoint (they all read the run folder). Equal
// everywhere iff the sums of the values and of their squares agree (zero variance).
void Trainer::check_ranks_agree_on_position() {
  const double e = static_cast<double>(state_.epoch), s = static_cast<double>(state_.iteration);
  auto sums = torch::tensor({e, s, e * e, s * s}, torch::kFloat64);
  distributed::all_reduce_sum(sums, "resume position check");
  const double w = distributed::world_size();
  const bool same = sums[2].item<double>() * w == std::pow(sums[0].item<double>(), 2) &&
                    sums[3].item<double>() * w == std::pow(sums[1].item<double>(), 2);
  MAE_CHECK(same, "rank ", distributed::rank(), " starts at epoch ", state_.epoch, ", step ", state_.iteration,
            " but the ranks disagree: every rank must read the same run folder ", options_.run_dir,
            " (a shared file system) for checkpoints and --resume");
}

Trainer::EpochEnd Trainer::train_one_epoch(int64_t epoch) {
  const int64_t first_batch = epoch == state_.epoch ? state_.batches_done : 0;  // > 0: resumed inside the epoch
  begin_epoch(epoch, first_batch);
  const optim::LrSchedule schedule{options_.effective_lr(), options_.min_lr, options_.warmup_epochs,
                                   static_cast<double>(options_.epochs)};
  data::Batch batch;
  for (int64_t i = first_batch; batches_.next(&batch); ++i) {
    if (i % options_.accum_iter == 0) {  // per-iteration schedule, set at the step's first micro-batch
      window_->lr = schedule.at(static_cast<double>(epoch) + static_cast<double>(i) / steps_per_epoch_) * state_.lr_factor;
      optim::set_lr(*optimizer_, groups_, window_->lr);
      window_->nonfinite = false;
    }
    const bool final_micro_step = (i + 1) % options_.accum_iter == 0;
    micro_step(batch, epoch, final_micro_step);
    if (!final_micro_step) continue;
    if (!agree_and_step()) return EpochEnd::kRolledBack;
    state_.batches_done = i + 1;
    const bool last_step = options_.max_steps > 0 && steps_this_process_ >= options_.max_steps;
    log_window(epoch, i, last_step);
    if (last_step) {
      result_.stopped_early = true;
      return EpochEnd::kStopped;
    }
    if (stop_agreed_) {
      if (state_.batches_done < steps_per_epoch_) {
        save(false);  // the epoch's end saves anyway
        core::log_warning(str(core::stop_requested() ? core::stop_signal_name() : "a stop signal on another rank",
                              ": saved checkpoint-last at step ", state_.iteration, " (epoch ", epoch + 1, ", batch ",
                              state_.batches_done, " of ", steps_per_epoch_, ") and stopped; continue with --resume auto"));
        result_.interrupted = true;
        return EpochEnd::kInterrupted;
      }
    } else if (state_.batches_done < steps_per_epoch_) {
      save_if_due();
    }
  }
  return EpochEnd::kCompleted;
}

void Trainer::save_if_due() {
  const bool by_steps = options_.save_every_steps > 0 && state_.iteration % options_.save_every_steps == 0;
  if (by_steps || save_time_due_) save_or_warn(false);  // save_time_due_: agreed in agree_and_step
}

void Trainer::save_or_warn(bool numbered) {
  if (options_.on_save_error == SaveErrorAction::kStop) return save(numbered);
  try {
    save(numbered);
  } catch (const Error& e) {
    core::log_warning(str("checkpoint not written (train.on_save_error=warn; training goes on and the next save tries again): ",
                          e.what()));
  }
}

void Trainer::begin_epoch(int64_t epoch, int64_t first_batch) {
  // Each rank its own stream (drop path), as the official code's seed + rank; rank 0's is the
  // single-process one. Resumed inside the epoch, the generator is where the checkpoint left it.
  if (first_batch == 0) {
    const auto rank = static_cast<uint64_t>(distributed::rank());
    torch::manual_seed(rank == 0 ? core::derive_seed(options_.seed, {kTorchSeedStream, static_cast<uint64_t>(epoch)})
                                 : core::derive_seed(options_.seed, {kTorchSeedStream, static_cast<uint64_t>(epoch), rank}));
  }
  batches_.set_epoch(epoch, first_batch);
  task_.model().train();
  optimizer_->zero_grad(true);
  core::reset_peak_memory(device_);
  Window& w = *window_;
  w = Window{};
  if (first_batch > 0) {  // resumed inside the epoch: its mean loss counts the steps before the checkpoint
    w.epoch_loss = state_.epoch_loss_sum;
    w.epoch_steps = state_.epoch_loss_steps;
  }
  w.epoch_start = w.start = Clock::now();
  w.comm_mark = sync_->exposed_seconds();
}

void Trainer::micro_step(const data::Batch& batch, int64_t epoch, bool final_micro_step) {
  Window& w = *window_;
  const data::Batch b = data::to_device(batch, device_);
  torch::Tensor loss;
  {
    AutocastGuard autocast(device_, precision_);
    loss = task_.loss(b, epoch, &w.extra);
  }
  w.loss_value = loss.item<double>();
  if (!std::isfinite(w.loss_value)) w.nonfinite = true;
  if (std::isfinite(w.loss_value) || sync_->active()) {  // every rank must join the gradient all-reduce
    sync_->arm(final_micro_step);
    const auto micro_loss = loss / static_cast<double>(options_.accum_iter);
    (precision_ == Precision::kFp16 ? LossScaler::scale_loss(micro_loss, state_.loss_scale) : micro_loss).backward();
  }
  if (!first_loss_seen_ && std::isfinite(w.loss_value)) result_.first_loss = w.loss_value, first_loss_seen_ = true;
  w.samples += b.images.size(0);
}

bool Trainer::agree_and_step() {
  Window& w = *window_;
  stop_agreed_ = core::stop_requested();
  save_time_due_ = options_.save_every_minutes > 0 && seconds_since(last_save_) >= 60 * options_.save_every_minutes;
  if (sync_->active()) {
    sync_->finish();
    // One decision for all ranks: skip when any rank saw a non-finite loss; stop when a signal
    // reached any rank; save on rank 0's clock (the clocks differ); log the mean loss.
    const bool rank0_due = distributed::rank() == 0 && save_time_due_;
    auto agreed = torch::tensor({w.nonfinite ? 1.0 : 0.0, w.nonfinite ? 0.0 : w.loss_value, stop_agreed_ ? 1.0 : 0.0,
                                 rank0_due ? 1.0 : 0.0},
                                torch::kFloat64);
    distributed::all_reduce_sum(agreed, "loss");
    w.nonfinite = agreed[0].item<double>() > 0;
    w.loss_value = agreed[1].item<double>() / options_.world_size;
    stop_agreed_ = agreed[2].item<double>() > 0;
    save_time_due_ = agreed[3].item<double>() > 0;
  }
  ++state_.iteration;
  distributed::set_progress(state_.iteration);
  ++steps_this_process_;
  const double scale = state_.loss_scale.scale;
  const StepOutcome outcome = step(w.nonfinite ? NAN : w.loss_value, &w.grad_norm);
  if (outcome == StepOutcome::kStepped) {
    consecutive_nonfinite_ = 0;
    w.loss += w.loss_value;
    w.epoch_loss += w.loss_value;
    ++w.steps;
    ++w.epoch_steps;
    return true;
  }
  if (outcome == StepOutcome::kOverflow) {  // fp16: skipped with a halved scale, as GradScaler does
    ++w.overflows;
    ++result_.overflow_steps;
    return true;
  }
  ++state_.skipped_steps;
  ++consecutive_nonfinite_;
  if (outcome == StepOutcome::kScaleCollapsed) {
    core::log_warning(str("step ", state_.iteration, ": the fp16 loss scale collapsed (", scale, " would fall below ",
                          scaler_.options().min_scale, "): the gradients overflow fp16 even unscaled; rolling back"));
    consecutive_nonfinite_ = options_.nonfinite_patience;
  } else {
    core::log_warning(str("step ", state_.iteration, ": non-finite ", w.nonfinite ? "loss" : "gradient norm", "; step skipped (",
                          consecutive_nonfinite_, " in a row, ", state_.skipped_steps, " in all)"));
  }
  if (consecutive_nonfinite_ < options_.nonfinite_patience) return true;
  handle_nonfinite(consecutive_nonfinite_);
  consecutive_nonfinite_ = 0;
  return false;
}

// The window is written at the log interval, at the epoch's end, and when train.max_steps stops the run.
void Trainer::log_window(int64_t epoch, int64_t batch_index, bool last_step) {
  Window& w = *window_;
  const bool log_now = state_.iteration % options_.log_every == 0 || batch_index + 1 == steps_per_epoch_ || last_step;
  if (log_now && w.steps > 0) {
    const double elapsed = std::max(seconds_since(w.start), 1e-9);
    Scalars scalars = {{"loss", w.loss / w.steps},
                       {"lr", w.lr},
                       {"grad_norm", w.grad_norm},
                       {"img_per_s", w.samples * options_.world_size / elapsed},
                       {"data_wait", (batches_.wait_seconds() - w.wait_mark) / elapsed},
                       {"peak_mem_mb", core::peak_memory_mb(device_)}};
    if (sync_->active()) scalars.emplace_back("comm_wait", (sync_->exposed_seconds() - w.comm_mark) / elapsed);
    if (precision_ == Precision::kFp16) {
      scalars.emplace_back("loss_scale", state_.loss_scale.scale);
      scalars.emplace_back("overflow_steps", static_cast<double>(w.overflows));
    }
    scalars.insert(scalars.end(), w.extra.begin(), w.extra.end());
    if (metrics_) metrics_->write(state_.iteration, epoch + static_cast<double>(batch_index + 1) / steps_per_epoch_, scalars);
    w.shown = scalars;
    result_.last_loss = scalars.front().second;
    w.loss = 0, w.steps = 0, w.samples = 0, w.overflows = 0;
    w.start = Clock::now();
    w.wait_mark = batches_.wait_seconds();
    w.comm_mark = sync_->exposed_seconds();
  }
  progress_->update(epoch, batch_index, w.shown);
  w.extra.clear();
}

void Trainer::end_epoch(int64_t epoch) {
  const Window& w = *window_;
  state_.epoch = epoch + 1;
  state_.batches_done = 0;
  const double epoch_seconds = seconds_since(w.epoch_start);
  const double wait_share = batches_.wait_seconds() / std::max(epoch_seconds, 1e-9);
  result_.last_epoch_loss = w.epoch_steps > 0 ? w.epoch_loss / w.epoch_steps : NAN;
  Scalars summary = {{"loss", result_.last_epoch_loss}, {"seconds", epoch_seconds}, {"data_wait", wait_share}};
  if (batches_.skipped_samples() > 0) summary.emplace_back("skipped_samples", static_cast<double>(batches_.skipped_samples()));
  task_.end_epoch(epoch, options_.run_dir, &summary);
  if (wait_share > 0.25) {
    core::log_warning(str("epoch ", epoch + 1, ": ", static_cast<int>(100 * wait_share),
                          "% of the time was spent waiting for data; raise data.num_workers or lower the augmentation cost"));
  }
  progress_->end_epoch(epoch, summary);
  if (metrics_) {
    Scalars epoch_scalars;
    for (const auto& [name, value] : summary) epoch_scalars.emplace_back("epoch_" + name, value);
    metrics_->write(state_.iteration, static_cast<double>(epoch + 1), epoch_scalars);
    metrics_->flush();
  }
  save_or_warn(options_.save_every > 0 && (state_.epoch % options_.save_every == 0 || state_.epoch == options_.epochs));
  if (stop_agreed_ && state_.epoch < options_.epochs) {
    core::log_warning(str(core::stop_requested() ? core::stop_signal_name() : "a stop signal on another rank",
                          ": stopped after epoch ", state_.epoch, "; continue with --resume auto"));
    result_.interrupted = true;
  }
}

TrainResult Trainer::finish() {
  result_.epochs_completed = state_.epoch;
  result_.steps = state_.iteration;
  result_.skipped_steps = state_.skipped_steps;
  result_.seconds = seconds_since(run_start_);
  result_.comm_wait_seconds = sync_->exposed_seconds();
  if (sync_->active()) {
    core::log_info(str("gradient sync: ", sync_->launches(), " bucket all-reduces; the steps waited ", result_.comm_wait_seconds,
                       " s for them after backward (", 100 * result_.comm_wait_seconds / std::max(result_.seconds, 1e-9),
                       " % of the run)"));
  }
  metrics_.reset();
  progress_.reset();
  return result_;
}

}  // namespace mae::train
