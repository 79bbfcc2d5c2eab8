#include "command.h"

#include <cstdlib>

#include "mae/core/runtime.h"
#include "mae/distributed/process_group.h"

namespace mae::app {

void add_set_words(const std::vector<std::string>& words, std::vector<std::string>* sets) {
  std::string previous_key;
  for (const auto& word : words) {
    const auto eq = word.find('=');
    const std::string key = eq == std::string::npos ? "" : word.substr(0, eq);
    if (!key.empty() && key == previous_key) {
      sets->back() += "," + word.substr(eq + 1);
      continue;
    }
    sets->push_back(word);
    previous_key = key;
  }
}

void add_common_options(CLI::App* cmd, CommonOptions* o, const config::Config& schema) {
  cmd->add_option("--config", o->settings.file, "YAML config file (keys below); --set overrides it")
      ->check(CLI::ExistingFile);
  // Each --set separately: its words that assign the key of the word before extend that value's list.
  // That is what a shell makes of an unquoted brace pattern: --set data.train_files=s-{0..3}.tar.
  cmd->add_option_function<std::vector<std::string>>(
         "--set", [o](const std::vector<std::string>& words) { add_set_words(words, &o->settings.sets); },
         "override one config key, e.g. --set optim.blr=1e-4 (repeatable; later ones win); words of one --set that "
         "assign the same key form a list, as a shell expands --set data.train_files=shard-{0..3}.tar")
      ->trigger_on_parse();
  cmd->add_option("--device", o->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads for LibTorch (0: one per available core)")
      ->capture_default_str();
  cmd->footer("\nConfig keys (--config FILE / --set key=value):\n" + schema.help_text());
}

torch::Device apply_common_options(const CommonOptions& o) {
  core::configure_host_allocator();
  core::configure_threads(o.threads);
  return core::resolve_device(o.device);
}

void add_distributed_options(CLI::App* cmd, CommonOptions* o) {
  cmd->add_option("--dist-timeout", o->dist_timeout,
                  "distributed runs: seconds a rank waits for the others before it stops with an error naming the missing rank")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_choice(cmd, "--dist-backend", o->dist_backend, distributed::kBackendNames, "distributed runs: auto is NCCL on CUDA, else Gloo");
}

torch::Device start_distributed(const CommonOptions& o, torch::Device device) {
  const distributed::Environment env = distributed::read_environment();
  if (!env.distributed()) return device;
  const char* local_world = std::getenv("LOCAL_WORLD_SIZE");
  const int local_processes = local_world != nullptr ? std::max(1, std::atoi(local_world)) : 1;
  if (o.threads == 0 && local_processes > 1 && !device.is_cuda()) {
    // Processes sharing a machine share its cores.
    core::configure_threads(std::max(1, core::usable_cores() / local_processes));
  }
  distributed::GroupOptions group;
  group.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.dist_timeout * 1000));
  group.backend = o.dist_backend;
  return distributed::init(env, device, group);
}

}  // namespace mae::app
