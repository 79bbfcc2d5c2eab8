// Where training metrics go: one JSON object per line in <run>/metrics.jsonl, TensorBoard scalars
// in <run>/ (tags "train/<name>"), and a progress display on the terminal (a bar redrawn in
// place) or periodic plain lines when stdout is not a terminal.
#pragma once

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mae/train/tensorboard_writer.h"
#include "mae/train/trainer_options.h"

namespace mae::train {

using Scalars = std::vector<std::pair<std::string, double>>;

class MetricsLog {
 public:
  // Appends to metrics.jsonl (a resumed run continues the file).
  MetricsLog(const std::string& run_dir, bool jsonl, bool tensorboard);
  // One record: {"step": s, "epoch": e, name: value, ...}
  void write(int64_t step, double epoch, const Scalars& scalars);
  void flush();

 private:
  std::ofstream jsonl_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

class Progress {
 public:
  // mode: log.progress (auto: a bar on a terminal, lines otherwise).
  Progress(ProgressMode mode, int64_t epochs, int64_t steps_per_epoch, int64_t log_every);
  // Shows epoch/step, the given fields and the ETA for the rest of the run.
  void update(int64_t epoch, int64_t step, const Scalars& fields);
  void end_epoch(int64_t epoch, const Scalars& summary);

 private:
  bool bar_ = false, quiet_ = false;
  int64_t epochs_, steps_per_epoch_, log_every_;
  int64_t first_epoch_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace mae::train
