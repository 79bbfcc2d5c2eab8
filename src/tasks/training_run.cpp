#include "mae/tasks/training_run.h"

#include "mae/core/atomic_file.h"
#include "mae/core/log.h"
#include "mae/core/runtime.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/precision_choice.h"
#include "mae/tasks/training_loader.h"
#include "mae/train/run_folder.h"

namespace mae::tasks {

TrainingRun start_training_run(const TrainingRunSpec& spec, train::Task& task, const torch::Device& device,
                               std::unique_ptr<data::BatchSource> loader) {
  const std::string& run_dir = spec.trainer->run_dir;
  check_resume_model(spec.resume, run_dir, spec.model_facts);
  TrainingRun run;
  run.loader = loader ? std::move(loader)
                      : training_loader(*spec.data, spec.train_source, *spec.trainer, spec.in_chans, spec.img_h, spec.img_w, device);
  const PrecisionChoice precision =
      settle_precision(spec.trainer, task, spec.in_chans, spec.img_h, spec.img_w, device, spec.label_maps);
  // The saved config says what runs: written from the settled options, with why auto chose what it chose.
  if (spec.render_config) {
    ConfigNotes notes;
    if (precision.measured_auto) notes["train.precision"] = precision.reason;
    *spec.config_yaml = spec.render_config(*spec.trainer, notes);
  }
  run.trainer = std::make_unique<train::Trainer>(*spec.trainer, task, *run.loader, device);
  run.resumed = run.trainer->resume(spec.resume);

  // Everything is checked and loaded: now the run folder is written.
  if (core::is_main_process()) {
    if (spec.overwrite) {
      core::log_info(str("--overwrite: removed ", train::clear_run_folder(run_dir), " file(s) of the previous run in ", run_dir));
    }
    core::write_file_atomic(run_dir + "/config.yaml", [&](std::ostream& out) { out << *spec.config_yaml; });
  }
  core::log_info("resolved config (saved to " + run_dir + "/config.yaml):\n" + *spec.config_yaml);
  core::log_info(core::describe_runtime() + ", device " + device.str());
  core::log_info(str("precision ", train::precision_name(precision.precision), " (", precision.reason, ")"));
  return run;
}

}  // namespace mae::tasks
