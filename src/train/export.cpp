#include "mae/train/export.h"

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/io/key_schemes.h"
#include "mae/io/safetensors.h"
#include "mae/train/checkpoint.h"
#include "mae/train/classify.h"
#include "mae/train/param_groups.h"

namespace mae::train {
namespace {

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> out;
  for (const auto& item : split_names(text)) out.push_back(std::stod(item));
  return out;
}

nlohmann::json model_facts(const std::map<std::string, std::string>& m, const std::string& part) {
  auto integer = [&](const char* key) { return std::stoll(m.at(key)); };
  nlohmann::json j;
  j["model"] = m.at("model") == "mae" && part == "full" ? "mae" : "vit";
  j["img_size"] = {integer("img_h"), integer("img_w")};
  j["patch_size"] = integer("patch_size");
  j["in_chans"] = integer("in_chans");
  j["embed_dim"] = integer("embed_dim");
  j["depth"] = integer("depth");
  j["num_heads"] = integer("num_heads");
  j["mlp_ratio"] = std::stod(m.at("mlp_ratio"));
  j["layer_norm_eps"] = m.count("norm_eps") ? std::stod(m.at("norm_eps")) : 1e-6;
  j["mean"] = parse_list(m.at("mean"));
  j["std"] = parse_list(m.at("std"));
  if (m.at("model") == "mae") {
    j["norm_pix_loss"] = m.at("norm_pix_loss") == "true";
    j["mask_ratio"] = std::stod(m.at("mask_ratio"));
    if (part == "full") {
      j["decoder_embed_dim"] = integer("decoder_embed_dim");
      j["decoder_depth"] = integer("decoder_depth");
      j["decoder_num_heads"] = integer("decoder_num_heads");
    }
    j["global_pool"] = false;  // the pretraining encoder ends with norm
    j["num_classes"] = 0;
  } else {
    j["global_pool"] = m.at("global_pool") == "true";
    j["num_classes"] = part == "full" ? integer("num_classes") : 0;
    j["probe_head"] = m.at("probe_head") == "true";
    j["class_names"] = stored_class_names(m);
  }
  return j;
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
  const std::string path = checkpoint_stem_of(request.checkpoint) + ".safetensors";
  const auto file = io::read_safetensors(path);
  MAE_CHECK_USAGE(file.metadata.count(kFormatKey) && file.metadata.count("model"), path,
                  " is not a checkpoint written by mae (no model facts); only our checkpoints can be exported");
  io::NamedTensors tensors(file.tensors.begin(), file.tensors.end());
  if (request.part == "encoder") {  // no decoder, no mask token, no classification head
    io::NamedTensors encoder;
    for (auto& [name, t] : io::select_encoder(tensors)) {
      if (io::key_group(name) != "head") encoder.emplace_back(name, t);
    }
    tensors = std::move(encoder);
  }
  const io::NamedTensors named = io::to_scheme(tensors, scheme);

  nlohmann::json sidecar = model_facts(file.metadata, request.part);
  sidecar["format"] = "mae-export-1";
  sidecar["scheme"] = io::scheme_name(scheme);
  sidecar["part"] = request.part;
  sidecar["source"] = path;
  if (scheme == io::Scheme::kHuggingFace) sidecar["huggingface_config"] = huggingface_config(sidecar);
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"mae_export", sidecar.dump()}};

  ExportResult result{request.output, request.output + ".json", named.size()};
  io::write_safetensors(result.weights, named, metadata);
  core::write_file_atomic(result.sidecar, [&](std::ostream& out) { out << sidecar.dump(2) << "\n"; });
  return result;
}

}  // namespace mae::train
