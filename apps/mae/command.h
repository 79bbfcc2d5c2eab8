// What every subcommand shares: --config / --set / --device / --threads, and how a subcommand
// registers itself with the `mae` command. Each subcommand lives in cmd_<name>.cpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mae/config/config.h"
#include "mae/config/settings.h"
#include "mae/core/choice.h"
#include "mae/distributed/process_group.h"

namespace mae::app {

struct CommonOptions {
  config::UserSettings settings;   // --config FILE (YAML), then each --set key=value in order
  std::string device = "auto";     // --device
  int threads = 0;                 // --threads (0: one per available core)
  double dist_timeout = 600;       // --dist-timeout (seconds)
  distributed::Backend dist_backend = distributed::Backend::kAuto;  // --dist-backend
};

// The words of one --set into `sets`: a word that assigns the key of the word before it extends
// that assignment's list ("k=a" "k=b" -> "k=a,b"); any other word is an assignment of its own.
void add_set_words(const std::vector<std::string>& words, std::vector<std::string>* sets);

// Adds --config, --set, --device and --threads to `cmd`, and lists every config key with its
// default in the command's --help.
void add_common_options(CLI::App* cmd, CommonOptions* options, const config::Config& schema);

// Sets the thread count and returns the resolved device.
torch::Device apply_common_options(const CommonOptions& options);

// Training commands: --dist-timeout and --dist-backend.
void add_distributed_options(CLI::App* cmd, CommonOptions* options);
// Joins the data-parallel job that torchrun, SLURM or `mae launch` describe in the environment
// (nothing happens for a single process); returns this rank's device. Call after
// apply_common_options, and distributed::finish() when the command's work is done.
torch::Device start_distributed(const CommonOptions& options, torch::Device device);

// An option with a fixed set of values (core/choice.h) into an enum: the help shows the table's
// names and the default's name; another value is refused by CLI11 with the names listed.
template <typename E, size_t N>
CLI::Option* add_choice(CLI::App* cmd, const std::string& flag, E& value, const core::Choice<E> (&table)[N],
                        const std::string& help) {
  std::map<std::string, E> names;
  for (const auto& c : table) names.emplace(c.name, c.value);
  return cmd->add_option(flag, value, help + " (" + core::choice_list(table) + ")")
      ->transform(CLI::CheckedTransformer(names))
      ->default_str(core::choice_name(table, value));
}

// A subcommand: registered on the app, run when selected. Returns the process exit code.
using Runner = std::function<int()>;
Runner register_pretrain(CLI::App& app);
Runner register_visualize(CLI::App& app);
Runner register_stats(CLI::App& app);
Runner register_pack(CLI::App& app);
Runner register_finetune(CLI::App& app);
Runner register_linprobe(CLI::App& app);
Runner register_eval(CLI::App& app);
Runner register_predict(CLI::App& app);
Runner register_knn(CLI::App& app);
Runner register_embed(CLI::App& app);
Runner register_export(CLI::App& app);
Runner register_launch(CLI::App& app);
Runner register_segment(CLI::App& app);

}  // namespace mae::app
