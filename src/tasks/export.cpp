#include "mae/tasks/export.h"

#include "mae/tasks/model_facts.h"

#include <filesystem>

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
                       {"image_size", f["img_size"][0] == f["img_size"][1] ? f["img_size"][0] : f["img_size"]},
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

// config.json of a folder that HuggingFace's from_pretrained reads: the config fields, the class
// that loads the weights, and the class names of a classifier.
nlohmann::json huggingface_folder_config(const nlohmann::json& f) {
  nlohmann::json hf = huggingface_config(f);
  const bool mae = f.at("model") == "mae";
  const int64_t classes = f.value("num_classes", int64_t{0});
  MAE_CHECK_USAGE(!mae || f["img_size"][0] == f["img_size"][1], "HuggingFace's ViTMAE takes square images only, this model's are ",
                  f["img_size"][0], "x", f["img_size"][1], "; export the weights as a file (--output x.safetensors) instead");
  hf["architectures"] = {mae ? "ViTMAEForPreTraining" : classes > 0 ? "ViTForImageClassification" : "ViTModel"};
  hf["torch_dtype"] = "float32";
  if (classes > 0) {
    const auto names = f.value("class_names", std::vector<std::string>{});
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (int64_t i = 0; i < classes; ++i) {
      const std::string name = i < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(i)] : std::to_string(i);
      id2label[std::to_string(i)] = name;
      label2id[name] = i;
    }
    hf["id2label"] = id2label;
    hf["label2id"] = label2id;
  }
  return hf;
}

// config.json of a folder that timm.create_model("local-dir:<folder>") reads: a ViT architecture
// whose model_args give this model's sizes, and the preprocessing it was trained with.
nlohmann::json timm_folder_config(const nlohmann::json& f) {
  MAE_CHECK_USAGE(f.at("model") == "vit", "timm has no MAE decoder; export the encoder for timm (--part encoder)");
  MAE_CHECK_USAGE(!f.value("probe_head", false), "timm's VisionTransformer has no BatchNorm probe head; export this "
                  "linear-probe model as a file (--output x.safetensors) and load it by hand");
  const int64_t classes = f.value("num_classes", int64_t{0});
  const std::string pool = f.value("global_pool", false) ? "avg" : "token";
  const auto& size = f["img_size"];
  const nlohmann::json img_size = size[0] == size[1] ? size[0] : size;
  nlohmann::json pretrained = {{"input_size", {f["in_chans"], size[0], size[1]}},
                               {"mean", f["mean"]},
                               {"std", f["std"]},
                               {"interpolation", "bicubic"},
                               {"crop_pct", 224.0 / 256.0},
                               {"num_classes", classes}};
  if (classes > 0 && f.contains("class_names")) pretrained["label_names"] = f["class_names"];
  return {{"architecture", "vit_base_patch16_224"},  // the family; model_args below set every size
          {"num_classes", classes},
          {"num_features", f["embed_dim"]},
          {"global_pool", pool},
          {"model_args",
           {{"img_size", img_size}, {"patch_size", f["patch_size"]}, {"in_chans", f["in_chans"]},
            {"embed_dim", f["embed_dim"]}, {"depth", f["depth"]}, {"num_heads", f["num_heads"]},
            {"mlp_ratio", f["mlp_ratio"]}, {"num_classes", classes}, {"global_pool", pool}}},
          {"pretrained_cfg", pretrained}};
}

bool is_folder(const std::string& output) {
  return (!output.empty() && output.back() == '/') || std::filesystem::is_directory(output);
}

}  // namespace

ExportResult run_export(const ExportRequest& request) {
  MAE_CHECK_USAGE(request.part == "full" || request.part == "encoder", "--part must be full or encoder, got '", request.part, "'");
  MAE_CHECK_USAGE(!request.output.empty(), "--output is required");
  const io::Scheme scheme = io::parse_scheme(request.scheme);
  const bool folder = is_folder(request.output);
  MAE_CHECK_USAGE(!folder || scheme != io::Scheme::kEasyCV, "--output ", request.output, " is a folder, which is for ",
                  "--scheme huggingface (from_pretrained) or timm (create_model(\"local-dir:...\")); give a .safetensors "
                  "file for easycv");
  const std::string path = train::checkpoint_stem_of(request.checkpoint) + ".safetensors";
  const StoredFacts stored = read_facts(path);
  MAE_CHECK_USAGE(stored.ours() && stored.facts.contains("model"), path,
                  " is not a checkpoint written by mae (no model facts); only our checkpoints can be exported");
  nlohmann::json sidecar = model_facts(stored.facts, request.part);
  sidecar["format"] = "mae-export-1";
  sidecar["scheme"] = io::scheme_name(scheme);
  sidecar["part"] = request.part;
  sidecar["source"] = path;
  if (scheme == io::Scheme::kHuggingFace) sidecar["huggingface_config"] = huggingface_config(sidecar);
  // A folder's config.json is settled before anything is written: a model it cannot describe is refused.
  nlohmann::json folder_config;
  if (folder) folder_config = scheme == io::Scheme::kHuggingFace ? huggingface_folder_config(sidecar) : timm_folder_config(sidecar);

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
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"mae_export", sidecar.dump()}};

  const std::string dir = folder ? (request.output.back() == '/' ? request.output : request.output + "/") : "";
  ExportResult result;
  result.weights = folder ? dir + "model.safetensors" : request.output;
  result.sidecar = folder ? dir + "mae_export.json" : request.output + ".json";
  result.tensors = named.size();
  core::create_parent_folder(result.weights);
  io::write_safetensors(result.weights, named, metadata);
  core::write_file_atomic(result.sidecar, [&](std::ostream& out) { out << sidecar.dump(2) << "\n"; });
  if (folder) {
    result.config = dir + "config.json";
    core::write_file_atomic(result.config, [&](std::ostream& out) { out << folder_config.dump(2) << "\n"; });
  }
  return result;
}

}  // namespace mae::tasks
