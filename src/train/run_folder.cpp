#include "mae/train/run_folder.h"

#include <algorithm>
#include <filesystem>

#include "mae/core/error.h"
#include "mae/distributed/process_group.h"

namespace mae::train {
namespace fs = std::filesystem;
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool is_run_file(const std::string& name) {
  return name == "config.yaml" || name == "metrics.jsonl" || name == "reconstructions" || starts_with(name, "checkpoint-") ||
         starts_with(name, "events.out.tfevents.");
}

}  // namespace

std::vector<std::string> run_files(const std::string& run_dir) {
  std::vector<std::string> files;
  std::error_code error;
  if (!fs::is_directory(run_dir, error)) return files;
  for (const auto& entry : fs::directory_iterator(run_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (is_run_file(name)) files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  return files;
}

void check_run_folder(const std::string& run_dir, bool resume, bool overwrite) {
  MAE_CHECK_USAGE(!(resume && overwrite), "--resume and --overwrite exclude each other: continue the run or replace it");
  if (resume || overwrite) return;
  const auto files = run_files(run_dir);
  // Every rank looks before any writes: rank 0 may otherwise have begun this run's files already.
  distributed::barrier("run folder check");
  if (files.empty()) return;
  const auto checkpoints = std::count_if(files.begin(), files.end(), [](const std::string& f) {
    return starts_with(f, "checkpoint-") && f.find(".state.") == std::string::npos;
  });
  throw UsageError(str("the run folder ", run_dir, " already holds a run (", files.size(), " file(s), ", checkpoints,
                       " checkpoint(s), e.g. ", files.front(), "); continue it with --resume auto, write the new run to another "
                       "folder with --output DIR, or replace it with --overwrite (removes its config.yaml, metrics.jsonl, "
                       "checkpoints, TensorBoard files and pictures)"));
}

size_t clear_run_folder(const std::string& run_dir) {
  const auto files = run_files(run_dir);
  for (const auto& name : files) {
    std::error_code error;
    fs::remove_all(fs::path(run_dir) / name, error);
    MAE_CHECK(!error, "--overwrite: cannot remove ", (fs::path(run_dir) / name).string(), " (", error.message(),
              "); check the folder's permissions");
  }
  return files.size();
}

}  // namespace mae::train
