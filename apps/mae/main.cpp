// The `mae` command: `mae <subcommand> [options]`. Exit codes: 0 success, 2 usage error,
// 1 any other failure, 75 a training run stopped by SIGTERM / SIGINT / SIGUSR1 after saving
// checkpoint-last (core/stop_signal.h).
#include <algorithm>
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "command.h"
#include "mae/config/config.h"
#include "mae/core/error.h"
#include "mae/core/runtime.h"

namespace {

// " (did you mean --threads?)" for the first --option in argv that `cmd` does not know, when one
// of its options is a few letters away; else "".
std::string did_you_mean(const CLI::App* cmd, int argc, char** argv) {
  std::vector<std::string> known;
  for (const CLI::Option* o : cmd->get_options()) {
    for (const auto& name : o->get_lnames()) known.push_back("--" + name);
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") continue;
    arg = arg.substr(0, arg.find('='));
    if (std::find(known.begin(), known.end(), arg) != known.end()) continue;
    const std::string near = mae::config::nearest_word(arg, known, 3);
    if (!near.empty()) return " (did you mean " + near + "?)";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) then fails the write with EFBIG, which is reported, instead of
  // killing the process in the middle of a checkpoint.
  ::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"mae: masked-autoencoder (MAE) pretraining and fine-tuning of Vision Transformers", "mae"};
  app.set_version_flag("--version", mae::core::version_string());
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, mae::app::Runner>> commands;
  auto add = [&](mae::app::Runner (*register_fn)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    mae::app::Runner run = register_fn(app);
    commands.emplace_back(app.get_subcommands({}).at(before), std::move(run));
  };
  add(mae::app::register_pretrain);
  add(mae::app::register_finetune);
  add(mae::app::register_linprobe);
  add(mae::app::register_segment);
  add(mae::app::register_eval);
  add(mae::app::register_predict);
  add(mae::app::register_knn);
  add(mae::app::register_visualize);
  add(mae::app::register_embed);
  add(mae::app::register_export);
  add(mae::app::register_stats);
  add(mae::app::register_pack);
  add(mae::app::register_launch);

  std::string selected = "mae";
  try {
    app.parse(argc, argv);
    for (auto& [cmd, run] : commands) {
      if (cmd->parsed()) {
        selected = "mae " + cmd->get_name();
        return run();
      }
    }
    return 0;
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help / --version
  } catch (const CLI::ParseError& e) {
    std::string hint;
    for (auto& [cmd, run] : commands) {
      if (!cmd->parsed()) continue;
      selected = "mae " + cmd->get_name();
      hint = did_you_mean(cmd, argc, argv);
    }
    std::cerr << "error: " << e.what() << hint << "\nRun '" << selected << " --help' for the options.\n";
    return 2;
  } catch (const mae::UsageError& e) {
    std::cerr << "error: " << e.what() << "\nRun '" << selected << " --help' for the options.\n";
    return 2;
  } catch (const mae::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
