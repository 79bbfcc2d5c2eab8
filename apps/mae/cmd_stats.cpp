// mae stats: per-channel mean and std of a dataset (pixel / data.pixel_range), to put in data.mean / data.std.
#include <iostream>

#include "command.h"
#include "mae/data/factory.h"
#include "mae/tasks/inference.h"
#include "mae/tasks/pretrain.h"

namespace mae::app {

Runner register_stats(CLI::App& app) {
  struct State {
    CommonOptions common;
    data::Split split = data::Split::kTrain;
    int64_t max_samples = 0;
    int64_t channels = 0;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("stats", "per-channel mean/std of the configured data (for data.mean / data.std)");
  add_common_options(cmd, &s->common, config::pretrain_schema());
  add_choice(cmd, "--split", s->split, data::kSplitNames, "the data split to measure");
  cmd->add_option("--max-samples", s->max_samples, "evenly spaced samples to read (0: all; a few thousand suffice for big sets)")
      ->capture_default_str();
  cmd->add_option("--channels", s->channels, "channels to read (1 grey, 3 RGB, or the bands of the data); 0: model.in_chans")
      ->capture_default_str();
  return [s]() {
    apply_common_options(s->common);
    const auto options = config::resolve_stats(s->common.settings);
    const int64_t channels = s->channels > 0 ? s->channels : options.model.in_chans;
    const auto [mean, std] = data::compute_mean_std(options.data, s->split, channels, s->max_samples);
    auto list = [](const std::vector<double>& v) {
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
      return "[" + out + "]";
    };
    std::cout << "data:\n  mean: " << list(mean) << "\n  std: " << list(std) << std::endl;
    return 0;
  };
}

}  // namespace mae::app
