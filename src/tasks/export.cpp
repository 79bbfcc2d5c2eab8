#include "mae/tasks/export.h"

#include "mae/tasks/model_facts.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/weights/key_schemes.h"
#include "mae/io/safetensors.h"
#include "mae/train/checkpoint.h"
#include "mae/tasks/classify.h"
#include "mae/optim/param_groups.h"

namespace mae::tasks {
namespace {

// The model the exported part is: an MAE's encoder is a ViT without head (global pool off: the
// pretraining encoder ends with norm), a classifier's encoder has no head.
ModelFacts exported_model(ModelFacts f, ExportPart part) {
  if (f.kind == ModelKind::kMae) {
    f.num_classes = 0, f.global_pool = false, f.probe_head = false, f.class_names.clear();
    if (part == ExportPart::kEncoder) f.kind = ModelKind::kVit;
  } else if (part == ExportPart::kEncoder) {
    f.num_classes = 0;
  }
  return f;
}

// The sidecar's model facts: the checkpoint's (as it stores them), less what the exported part lacks.
nlohmann::json sidecar_facts(const ModelFacts& stored, ExportPart part) {
  const ModelFacts f = exported_model(stored, part);
  nlohmann::json j = stored;
  j["model"] = core::choice_name(kModelKindNames, f.kind);
  j["img_size"] = {f.img_h, f.img_w};
  j["layer_norm_eps"] = f.norm_eps;
  for (const char* key : {"img_h", "img_w", "norm_eps", "val_top1", "epoch", "model_name"}) j.erase(key);
  if (f.kind != ModelKind::kMae) {
    for (const char* key : {"decoder_embed_dim", "decoder_depth", "decoder_num_heads"}) j.erase(key);
  }
  if (stored.kind == ModelKind::kMae) j["global_pool"] = f.global_pool;
  j["num_classes"] = f.num_classes;
  return j;
}

nlohmann::json image_size(const ModelFacts& f) {
  return f.img_h == f.img_w ? nlohmann::json(f.img_h) : nlohmann::json{f.img_h, f.img_w};
}

// The same facts as HuggingFace's ViTMAEConfig / ViTConfig fields.
nlohmann::json huggingface_config(const ModelFacts& f) {
  nlohmann::json hf = {{"hidden_size", f.embed_dim},
                       {"num_hidden_layers", f.depth},
                       {"num_attention_heads", f.num_heads},
                       {"intermediate_size", static_cast<int64_t>(static_cast<double>(f.embed_dim) * f.mlp_ratio)},
                       {"hidden_act", "gelu"},
                       {"image_size", image_size(f)},
                       {"patch_size", f.patch_size},
                       {"num_channels", f.in_chans},
                       {"qkv_bias", true},
                       {"layer_norm_eps", f.norm_eps}};
  if (f.kind == ModelKind::kMae) {
    hf["model_type"] = "vit_mae";
    hf["decoder_hidden_size"] = f.decoder_embed_dim;
    hf["decoder_num_hidden_layers"] = f.decoder_depth;
    hf["decoder_num_attention_heads"] = f.decoder_num_heads;
    hf["decoder_intermediate_size"] = static_cast<int64_t>(static_cast<double>(f.decoder_embed_dim) * f.mlp_ratio);
    hf["mask_ratio"] = f.mask_ratio;
    hf["norm_pix_loss"] = f.norm_pix_loss;
  } else {
    hf["model_type"] = "vit";
  }
  return hf;
}

// config.json of a folder that HuggingFace's from_pretrained reads: the config fields, the class
// that loads the weights, and the class names of a classifier.
nlohmann::json huggingface_folder_config(const ModelFacts& f) {
  nlohmann::json hf = huggingface_config(f);
  const bool mae = f.kind == ModelKind::kMae;
  const int64_t classes = f.num_classes;
  MAE_CHECK_USAGE(!mae || f.img_h == f.img_w, "HuggingFace's ViTMAE takes square images only, this model's are ", f.img_h,
                  "x", f.img_w, "; export the weights as a file (--output x.safetensors) instead");
  hf["architectures"] = {mae ? "ViTMAEForPreTraining" : classes > 0 ? "ViTForImageClassification" : "ViTModel"};
  hf["torch_dtype"] = "float32";
  if (classes > 0) {
    const auto& names = f.class_names;
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
nlohmann::json timm_folder_config(const ModelFacts& f) {
  MAE_CHECK_USAGE(f.kind == ModelKind::kVit, "timm has no MAE decoder; export the encoder for timm (--part encoder)");
  MAE_CHECK_USAGE(!f.probe_head, "timm's VisionTransformer has no BatchNorm probe head; export this "
                  "linear-probe model as a file (--output x.safetensors) and load it by hand");
  const int64_t classes = f.num_classes;
  const std::string pool = f.global_pool ? "avg" : "token";
  nlohmann::json pretrained = {{"input_size", {f.in_chans, f.img_h, f.img_w}},
                               {"mean", f.mean},
                               {"std", f.std},
                               {"interpolation", "bicubic"},
                               {"crop_pct", 224.0 / 256.0},
                               {"num_classes", classes}};
  if (classes > 0) pretrained["label_names"] = f.class_names;
  return {{"architecture", "vit_base_patch16_224"},  // the family; model_args below set every size
          {"num_classes", classes},
          {"num_features", f.embed_dim},
          {"global_pool", pool},
          {"model_args",
           {{"img_size", image_size(f)}, {"patch_size", f.patch_size}, {"in_chans", f.in_chans},
            {"embed_dim", f.embed_dim}, {"depth", f.depth}, {"num_heads", f.num_heads},
            {"mlp_ratio", f.mlp_ratio}, {"num_classes", classes}, {"global_pool", pool}}},
          {"pretrained_cfg", pretrained}};
}

bool is_folder(const std::string& output) {
  return (!output.empty() && output.back() == '/') || std::filesystem::is_directory(output);
}

}  // namespace

ExportResult run_export(const ExportRequest& request) {
  MAE_CHECK_USAGE(!request.output.empty(), "--output is required");
  const weights::Scheme scheme = weights::parse_scheme(request.scheme);
  const bool folder = is_folder(request.output);
  MAE_CHECK_USAGE(!folder || scheme != weights::Scheme::kEasyCV, "--output ", request.output, " is a folder, which is for ",
                  "--scheme huggingface (from_pretrained) or timm (create_model(\"local-dir:...\")); give a .safetensors "
                  "file for easycv");
  const std::string path = train::checkpoint_stem_of(request.checkpoint) + ".safetensors";
  const StoredFacts stored = read_facts(path);
  MAE_CHECK_USAGE(stored.facts.has_value(), path,
                  " is not a checkpoint written by mae (no model facts); only our checkpoints can be exported");
  const ModelFacts model = exported_model(*stored.facts, request.part);
  nlohmann::json sidecar = sidecar_facts(*stored.facts, request.part);
  sidecar["format"] = "mae-export-1";
  sidecar["scheme"] = weights::scheme_name(scheme);
  sidecar["part"] = core::choice_name(kExportPartNames, request.part);
  sidecar["source"] = path;
  if (scheme == weights::Scheme::kHuggingFace) sidecar["huggingface_config"] = huggingface_config(model);
  // A folder's config.json is settled before anything is written: a model it cannot describe is refused.
  nlohmann::json folder_config;
  if (folder) folder_config = scheme == weights::Scheme::kHuggingFace ? huggingface_folder_config(model) : timm_folder_config(model);

  const auto file = io::read_safetensors(path);
  io::NamedTensors tensors(file.tensors.begin(), file.tensors.end());
  if (request.part == ExportPart::kEncoder) {  // no decoder, no mask token, no classification head
    io::NamedTensors encoder;
    for (auto& [name, t] : weights::select_encoder(tensors)) {
      if (weights::key_part(name) != weights::KeyPart::kHead) encoder.emplace_back(name, t);
    }
    tensors = std::move(encoder);
  }
  const io::NamedTensors named = weights::to_scheme(tensors, scheme);
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
