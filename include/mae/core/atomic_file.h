// Files written so that a crash or a full disk never leaves a half-written file under the final
// name: write to "<path>.tmp-<pid>", flush and fsync, then rename over the target.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace mae::core {

// Calls `write` with a stream onto the temporary file, then publishes it as `path`.
// On any failure the temporary file is removed, `path` keeps its previous content, and
// mae::Error is thrown naming the path.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// Creates the folder an output file named by the user goes into (`--output preds/p.jsonl`). Not
// for checkpoints: a run folder that vanished is an error there, not something to recreate.
void create_parent_folder(const std::string& path);

}  // namespace mae::core
