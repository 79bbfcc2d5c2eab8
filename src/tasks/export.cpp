#include "mae/tasks/export.h"

#include "mae/tasks/model_facts.h"

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/io/key_schemes.h"
#include "mae/io/safetensors.h"
#include "mae/train/checkpoint.h"
#include "mae/tasks/classify.h"
#include "mae/optim/param_groups.h"

namespace mae::tasks {
namespace {

// The sidecar's model facts: the checkpoint's, less what the exported part lacks.
nlohmann::json model_facts(nlohmann::json f, const std::string& part) {
  const bool mae = f.at("model") == "mae";
  f["model"] = mae && part == "full" ? "mae" : "vit";
  f["img_size"] = {f.at("img_h"), f.at("img_w")};
  f["layer_norm_eps"] = f.value("norm_eps", 1e-6);
  for (const char* key : {"img_h", "img_w", "norm_eps", "val_top1", "epoch", "model_name"}) f.erase(key);
  if (mae) {
    if (part != "full") {
      for (const char* key : {"decoder_embed_dim", "decoder_depth", "decoder_num_heads"}) f.erase(key);
    }
    f["global_pool"] = false;  // the pretraining encoder ends with norm
    f["num_classes"] = 0;
  } else if (part != "full") {
    f["num_classes"] = 0;
  }
  return f;
}

// The same facts as HuggingFace's ViTMAEConfig / ViTConfig fields.
nlohmann::json huggingface_config(const nlohmann::json& f) {
  const int64_t d = f["embed_dim"];
  nlohmann::json hf = {{"hidden_size", d},
                       {"num_hidden_layers", f["depth"]},
                       {"num_attention_heads", f["num_heads"]},
                       {"intermediate_size", static_cast<int64_t>(d * f["mlp_ratio"].get<double>())},
                       {"hidden_act", "gelu"},
                       {"image_size", f["img_size"][0]},
                       {"patch_size", f["patch_size"]},
                       {"num_channels", f["in_chans"]},
                       {"qkv_bias", true},
                       {"layer_norm_eps", f["layer_norm_eps"]}};
  if (f.contains("decoder_embed_dim")) {
    hf["model_type"] = "vit_mae";
    hf["decoder_hidden_size"] = f["decoder_embed_dim"];
    hf["decoder_num_hidden_layers"] = f["decoder_depth"];
    hf["decoder_num_attention_heads"] = f["decoder_num_heads"];
    hf["decoder_intermediate_size"] = static_cast<int64_t>(f["decoder_embed_dim"].get<int64_t>() * f["mlp_ratio"].get<double>());
    hf["mask_ratio"] = f["mask_ratio"];
    hf["norm_pix_loss"] = f["norm_pix_loss"];
  } else {
    hf["model_type"] = "vit";
  }
  return hf;
}

}  // namespace

ExportResult run_export(const ExportRequest& request) {
  MAE_CHECK_USAGE(request.part == "full" || request.part == "encoder", "--part must be full or encoder, got '", request.part, "'");
  MAE_CHECK_USAGE(!request.output.empty(), "--output is required");
  const io::Scheme scheme = io::parse_scheme(request.scheme);
  const std::string path = train::checkpoint_stem_of(request.checkpoint) + ".safetensors";
  const StoredFacts stored = read_facts(path);
  MAE_CHECK_USAGE(stored.ours() && stored.facts.contains("model"), path,
                  " is not a checkpoint written by mae (no model facts); only our checkpoints can be exported");
  const auto file = io::read_safetensors(path);
  io::NamedTensors tensors(file.tensors.begin(), file.tensors.end());
  if (request.part == "encoder") {  // no decoder, no mask token, no classification head
    io::NamedTensors encoder;
    for (auto& [name, t] : io::select_encoder(tensors)) {
      if (io::key_group(name) != "head") encoder.emplace_back(name, t);
    }
    tensors = std::move(encoder);
  }
  const io::NamedTensors named = io::to_scheme(tensors, scheme);

  nlohmann::json sidecar = model_facts(stored.facts, request.part);
  sidecar["format"] = "mae-export-1";
  sidecar["scheme"] = io::scheme_name(scheme);
  sidecar["part"] = request.part;
  sidecar["source"] = path;
  if (scheme == io::Scheme::kHuggingFace) sidecar["huggingface_config"] = huggingface_config(sidecar);
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"mae_export", sidecar.dump()}};

  ExportResult result{request.output, request.output + ".json", named.size()};
  core::create_parent_folder(result.weights);
  io::write_safetensors(result.weights, named, metadata);
  core::write_file_atomic(result.sidecar, [&](std::ostream& out) { out << sidecar.dump(2) << "\n"; });
  return result;
}

}  // namespace mae::tasks
