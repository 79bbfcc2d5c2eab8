// mae export: a checkpoint to plain safetensors under the official / HuggingFace / EasyCV names.
#include "command.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/tasks/export.h"

namespace mae::app {

Runner register_export(CLI::App& app) {
  auto request = std::make_shared<tasks::ExportRequest>();
  auto part = std::make_shared<std::string>(core::choice_name(tasks::kExportPartNames, request->part));
  CLI::App* cmd = app.add_subcommand("export", "write a checkpoint's weights for PyTorch, timm or HuggingFace, with a JSON sidecar");
  cmd->add_option("checkpoint", request->checkpoint, "a checkpoint written by mae pretrain / finetune / linprobe")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", request->output,
                  "the .safetensors to write (the sidecar is <output>.json), or a folder (DIR/) for huggingface "
                  "(from_pretrained) or timm (create_model(\"local-dir:DIR\")): model.safetensors + config.json")
      ->required();
  cmd->add_option("--part", *part, "full, or encoder (no decoder, mask token or head)")->capture_default_str();
  cmd->add_option("--scheme", request->scheme, "official (= timm), huggingface or easycv")->capture_default_str();
  return [request, part]() {
    request->part = core::parse_choice(tasks::kExportPartNames, *part, "--part");
    const auto r = tasks::run_export(*request);
    core::log_info(str("wrote ", r.tensors, " tensors to ", r.weights, r.config.empty() ? "" : ", " + r.config + ",",
                       " and the model facts to ", r.sidecar));
    return 0;
  };
}

}  // namespace mae::app
