#include "command.h"

#include "mae/core/runtime.h"

namespace mae::app {

void add_common_options(CLI::App* cmd, CommonOptions* o, const core::Config& schema) {
  cmd->add_option("--config", o->config_file, "YAML config file (keys below); --set overrides it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", o->sets, "override one config key, e.g. --set optim.blr=1e-4 (repeatable)");
  cmd->add_option("--device", o->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads for LibTorch (0: one per available core)")
      ->capture_default_str();
  cmd->footer("\nConfig keys (--config FILE / --set key=value):\n" + schema.help_text());
}

torch::Device apply_common_options(const CommonOptions& o, core::Config* config) {
  if (!o.config_file.empty()) config->load_yaml_file(o.config_file);
  for (const auto& assignment : o.sets) config->set_assignment(assignment);
  core::configure_threads(o.threads);
  return core::resolve_device(o.device);
}

}  // namespace mae::app
