// A run folder belongs to one run. A new run (no --resume) into a folder that holds another is
// refused before anything is written, unless --overwrite asks to remove the old run's files first;
// otherwise checkpoints, metrics.jsonl and config.yaml of two runs would mix, and --resume auto
// would continue whichever checkpoint has the most steps.
#pragma once

#include <string>
#include <vector>

namespace mae::train {

// The files and folders `mae pretrain / finetune / linprobe` write in a run folder that are there
// now: config.yaml, metrics.jsonl, checkpoint-*, TensorBoard event files, reconstructions/.
std::vector<std::string> run_files(const std::string& run_dir);

// Throws UsageError naming the way out when `run_dir` holds a run and the new one neither resumes
// it nor overwrites it.
void check_run_folder(const std::string& run_dir, bool resume, bool overwrite);

// --overwrite: removes run_files(run_dir); call it after every check passed, before the first write.
// Returns how many files and folders it removed.
size_t clear_run_folder(const std::string& run_dir);

}  // namespace mae::train
