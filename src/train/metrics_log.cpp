#include "mae/train/metrics_log.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/core/log.h"

namespace mae::train {

MetricsLog::MetricsLog(const std::string& run_dir, bool jsonl, bool tensorboard) {
  if (jsonl) {
    const std::string path = run_dir + "/metrics.jsonl";
    jsonl_.open(path, std::ios::app);
    MAE_CHECK(jsonl_.good(), "cannot open '", path, "' for writing; check that the run folder is writable");
  }
  if (tensorboard) tensorboard_ = std::make_unique<TensorBoardWriter>(run_dir);
}

void MetricsLog::write(int64_t step, double epoch, const Scalars& scalars) {
  if (jsonl_.is_open()) {
    nlohmann::json record = {{"step", step}, {"epoch", epoch}};
    for (const auto& [name, value] : scalars) record[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(std::to_string(value));
    jsonl_ << record.dump() << '\n';
    jsonl_.flush();  // a killed job keeps its record up to the last logged step
  }
  if (tensorboard_) {
    for (const auto& [name, value] : scalars) tensorboard_->add_scalar("train/" + name, value, step);
  }
}

void MetricsLog::flush() {
  if (jsonl_.is_open()) jsonl_.flush();
  if (tensorboard_) tensorboard_->flush();
}

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds);
  char out[32];
  if (s >= 3600) {
    std::snprintf(out, sizeof(out), "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(out, sizeof(out), "%02lld:%02lld", s / 60, s % 60);
  }
  return out;
}

std::string format_fields(const Scalars& fields) {
  std::string out;
  char value[48];
  for (const auto& [name, v] : fields) {
    const double a = std::fabs(v);
    std::snprintf(value, sizeof(value), (a != 0 && (a < 1e-3 || a >= 1e5)) ? "%.3e" : "%.4g", v);
    out += "  " + name + " " + value;
  }
  return out;
}

}  // namespace

Progress::Progress(ProgressMode mode, int64_t epochs, int64_t steps_per_epoch, int64_t log_every)
    : epochs_(epochs), steps_per_epoch_(std::max<int64_t>(steps_per_epoch, 1)), log_every_(std::max<int64_t>(log_every, 1)) {
  bar_ = mode == ProgressMode::kBar || (mode == ProgressMode::kAuto && ::isatty(STDOUT_FILENO));
  quiet_ = mode == ProgressMode::kNone || !core::is_main_process();
  start_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t epoch, int64_t step, const Scalars& fields) {
  if (quiet_) return;
  if (first_epoch_ < 0) first_epoch_ = epoch, start_ = std::chrono::steady_clock::now();
  const bool last = step + 1 == steps_per_epoch_;
  if (!bar_ && (step + 1) % log_every_ != 0 && !last) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>((epoch - first_epoch_) * steps_per_epoch_ + step + 1);
  const double total = static_cast<double>((epochs_ - first_epoch_) * steps_per_epoch_);
  const std::string eta = format_duration(elapsed / done * (total - done));
  char head[96];
  std::snprintf(head, sizeof(head), "epoch %lld/%lld  step %lld/%lld", static_cast<long long>(epoch + 1),
                static_cast<long long>(epochs_), static_cast<long long>(step + 1), static_cast<long long>(steps_per_epoch_));
  if (bar_) {
    const int width = 20;
    const int filled = static_cast<int>(width * (step + 1) / steps_per_epoch_);
    std::cout << "\r" << head << " [" << std::string(filled, '#') << std::string(width - filled, '.') << "]"
              << format_fields(fields) << "  eta " << eta << "\033[K" << std::flush;
  } else {
    std::cout << head << format_fields(fields) << "  eta " << eta << std::endl;
  }
}

void Progress::end_epoch(int64_t epoch, const Scalars& summary) {
  if (quiet_) return;
  if (bar_) std::cout << "\r\033[K";
  std::cout << "epoch " << epoch + 1 << "/" << epochs_ << " done:" << format_fields(summary) << std::endl;
}

}  // namespace mae::train
