#include "mae/tasks/model_facts.h"

#include "mae/core/error.h"
#include "mae/core/parse.h"
#include "mae/core/log.h"
#include "mae/train/checkpoint.h"

namespace mae::tasks {
namespace {

template <typename Options>
ModelFacts encoder_facts(ModelKind kind, const Options& o, const std::vector<double>& mean, const std::vector<double>& std) {
  ModelFacts f;
  f.kind = kind;
  f.img_h = o.img_h, f.img_w = o.img_w, f.patch_size = o.patch_size, f.in_chans = o.in_chans;
  f.embed_dim = o.embed_dim, f.depth = o.depth, f.num_heads = o.num_heads;
  f.mlp_ratio = o.mlp_ratio, f.norm_eps = o.norm_eps;
  f.mean = mean, f.std = std;
  return f;
}

// Format 1 stored every fact as a string ("0.000001", "true", "0.5,0.5", a JSON list of names):
// typed back into format 2's JSON, which from_json then reads.
nlohmann::json from_strings(const std::map<std::string, std::string>& m) {
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [key, text] : m) {
    if (key == train::kFormatKey || key == train::kConfigKey) continue;
    int64_t i = 0;
    double d = 0;
    if (key == "class_names") {
      auto names = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (names.is_array()) f[key] = std::move(names);
    } else if (key == "mean" || key == "std") {
      std::vector<double> values;
      for (size_t begin = 0; begin <= text.size();) {
        size_t end = text.find(',', begin);
        if (end == std::string::npos) end = text.size();
        if (core::parse_double(text.substr(begin, end - begin), &d)) values.push_back(d);
        begin = end + 1;
      }
      f[key] = values;
    } else if (text == "true" || text == "false") {
      f[key] = text == "true";
    } else if (core::parse_int(text, &i)) {
      f[key] = i;
    } else if (core::parse_double(text, &d)) {
      f[key] = d;
    } else {
      f[key] = text;
    }
  }
  return f;
}

}  // namespace

ModelFacts ModelFacts::of_mae(const models::MaeViTOptions& o, double mask_ratio, const std::vector<double>& mean,
                              const std::vector<double>& std) {
  ModelFacts f = encoder_facts(ModelKind::kMae, o, mean, std);
  f.decoder_embed_dim = o.decoder_embed_dim, f.decoder_depth = o.decoder_depth, f.decoder_num_heads = o.decoder_num_heads;
  f.norm_pix_loss = o.norm_pix_loss;
  f.mask_ratio = mask_ratio;
  return f;
}

ModelFacts ModelFacts::of_vit(const models::VisionTransformerOptions& o, const std::vector<std::string>& class_names,
                              const std::vector<double>& mean, const std::vector<double>& std) {
  ModelFacts f = encoder_facts(ModelKind::kVit, o, mean, std);
  f.num_classes = o.num_classes, f.global_pool = o.global_pool, f.probe_head = o.probe_head;
  f.class_names = class_names;
  return f;
}

ModelFacts ModelFacts::of_segmenter(const models::SegmenterOptions& o, const std::vector<std::string>& class_names,
                                    const std::vector<double>& mean, const std::vector<double>& std) {
  ModelFacts f = encoder_facts(ModelKind::kSegmenter, o.encoder, mean, std);
  f.num_classes = o.num_classes;
  f.class_names = class_names;
  f.seg_head = o.head;
  f.seg_channels = o.channels;
  f.out_indices = o.resolved_out_indices();
  return f;
}

models::SegmenterOptions ModelFacts::segmenter_options(models::SegmenterOptions o) const {
  o.encoder = vit_options(o.encoder);
  o.num_classes = num_classes;
  o.head = seg_head;
  o.channels = seg_channels;
  o.out_indices = out_indices;
  return o;
}

models::VisionTransformerOptions ModelFacts::vit_options(models::VisionTransformerOptions o) const {
  o.img_h = img_h, o.img_w = img_w, o.patch_size = patch_size, o.in_chans = in_chans;
  o.embed_dim = embed_dim, o.depth = depth, o.num_heads = num_heads;
  o.mlp_ratio = mlp_ratio, o.norm_eps = norm_eps;
  return o;
}

void to_json(nlohmann::json& j, const ModelFacts& f) {
  j = {{"model", core::choice_name(kModelKindNames, f.kind)},
       {"img_h", f.img_h},         {"img_w", f.img_w},         {"patch_size", f.patch_size},
       {"in_chans", f.in_chans},   {"embed_dim", f.embed_dim}, {"depth", f.depth},
       {"num_heads", f.num_heads}, {"mlp_ratio", f.mlp_ratio}, {"norm_eps", f.norm_eps},
       {"mean", f.mean},           {"std", f.std}};
  if (!f.model_name.empty()) j["model_name"] = f.model_name;
  if (f.kind == ModelKind::kMae) {
    j["decoder_embed_dim"] = f.decoder_embed_dim;
    j["decoder_depth"] = f.decoder_depth;
    j["decoder_num_heads"] = f.decoder_num_heads;
    j["norm_pix_loss"] = f.norm_pix_loss;
    j["mask_ratio"] = f.mask_ratio;
  } else if (f.kind == ModelKind::kVit) {
    j["num_classes"] = f.num_classes;
    j["global_pool"] = f.global_pool;
    j["probe_head"] = f.probe_head;
    j["class_names"] = f.class_names;
  } else {
    j["num_classes"] = f.num_classes;
    j["class_names"] = f.class_names;
    j["seg_head"] = core::choice_name(models::kSegHeadNames, f.seg_head);
    j["seg_channels"] = f.seg_channels;
    j["out_indices"] = f.out_indices;
  }
  if (f.val_top1) j["val_top1"] = *f.val_top1;
  if (f.val_miou) j["val_miou"] = *f.val_miou;
  if (f.epoch) j["epoch"] = *f.epoch;
}

void from_json(const nlohmann::json& j, ModelFacts& f) {
  MAE_CHECK(j.is_object(), "the model facts are not a JSON object");
  f = ModelFacts{};  // a missing optional key keeps the member's initial value
  auto required = [&](const char* key, auto* member) {
    const auto it = j.find(key);
    MAE_CHECK(it != j.end(), "the model facts lack \"", key, "\"");
    it->get_to(*member);
  };
  auto optional = [&](const char* key, auto* member) {
    const auto it = j.find(key);
    if (it != j.end()) it->get_to(*member);
  };
  std::string model;
  required("model", &model);
  f.kind = core::parse_choice(kModelKindNames, model, "the facts' model");
  optional("model_name", &f.model_name);
  required("img_h", &f.img_h), required("img_w", &f.img_w), required("patch_size", &f.patch_size);
  required("in_chans", &f.in_chans), required("embed_dim", &f.embed_dim), required("depth", &f.depth);
  required("num_heads", &f.num_heads);
  optional("mlp_ratio", &f.mlp_ratio), optional("norm_eps", &f.norm_eps);
  optional("mean", &f.mean), optional("std", &f.std);
  if (f.kind == ModelKind::kMae) {
    required("decoder_embed_dim", &f.decoder_embed_dim), required("decoder_depth", &f.decoder_depth);
    required("decoder_num_heads", &f.decoder_num_heads);
    optional("norm_pix_loss", &f.norm_pix_loss), optional("mask_ratio", &f.mask_ratio);
  } else if (f.kind == ModelKind::kVit) {
    optional("num_classes", &f.num_classes), optional("global_pool", &f.global_pool);
    optional("probe_head", &f.probe_head), optional("class_names", &f.class_names);
  } else {
    std::string head;
    required("num_classes", &f.num_classes), required("seg_head", &head), required("seg_channels", &f.seg_channels);
    required("out_indices", &f.out_indices), optional("class_names", &f.class_names);
    f.seg_head = core::parse_choice(models::kSegHeadNames, head, "the facts' seg_head");
  }
  if (j.contains("val_top1")) f.val_top1 = j.at("val_top1").get<double>();
  if (j.contains("val_miou")) f.val_miou = j.at("val_miou").get<double>();
  if (j.contains("epoch")) f.epoch = j.at("epoch").get<int64_t>();
}

std::map<std::string, std::string> facts_metadata(const ModelFacts& facts, const std::string& config_yaml) {
  return {{train::kFormatKey, train::kFormatValue},
          {train::kFactsKey, nlohmann::json(facts).dump()},
          {train::kConfigKey, config_yaml}};
}

StoredFacts read_facts(const std::string& weights_path) {
  StoredFacts out;
  const std::string suffix = ".safetensors";
  if (weights_path.size() < suffix.size() ||
      weights_path.compare(weights_path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return out;
  }
  const auto metadata = train::read_checkpoint_metadata(weights_path);
  if (!metadata.count(train::kFormatKey)) return out;
  out.ours = true;
  auto config = metadata.find(train::kConfigKey);
  if (config != metadata.end()) out.config_yaml = config->second;
  nlohmann::json json;
  auto facts = metadata.find(train::kFactsKey);
  if (facts == metadata.end()) {
    json = from_strings(metadata);
    if (!json.contains("model")) return out;  // a format-1 file without model facts
  } else {
    json = nlohmann::json::parse(facts->second, nullptr, /*allow_exceptions=*/false);
  }
  try {
    out.facts = json.get<ModelFacts>();
  } catch (const std::exception& e) {
    throw Error(str(weights_path, ": the checkpoint's model facts are unreadable (", e.what(),
                    "); the file is damaged, use another checkpoint"));
  }
  return out;
}

std::string model_difference(const ModelFacts& stored, const ModelFacts& wanted) {
  std::string out;
  auto compare = [&](const char* name, const auto& a, const auto& b) {
    if (a == b) return;
    out += str(out.empty() ? "" : ", ", name, " ", nlohmann::json(a).dump(), " in the checkpoint but ",
               nlohmann::json(b).dump(), " now");
  };
  compare("model", std::string(core::choice_name(kModelKindNames, stored.kind)),
          std::string(core::choice_name(kModelKindNames, wanted.kind)));
  compare("img_h", stored.img_h, wanted.img_h);
  compare("img_w", stored.img_w, wanted.img_w);
  compare("patch_size", stored.patch_size, wanted.patch_size);
  compare("in_chans", stored.in_chans, wanted.in_chans);
  compare("embed_dim", stored.embed_dim, wanted.embed_dim);
  compare("depth", stored.depth, wanted.depth);
  compare("num_heads", stored.num_heads, wanted.num_heads);
  compare("mlp_ratio", stored.mlp_ratio, wanted.mlp_ratio);
  if (stored.kind != wanted.kind) return out;  // the decoder or the head of only one of them
  if (stored.kind == ModelKind::kMae) {
    compare("decoder_embed_dim", stored.decoder_embed_dim, wanted.decoder_embed_dim);
    compare("decoder_depth", stored.decoder_depth, wanted.decoder_depth);
    compare("decoder_num_heads", stored.decoder_num_heads, wanted.decoder_num_heads);
  } else {
    compare("num_classes", stored.num_classes, wanted.num_classes);
    compare("global_pool", stored.global_pool, wanted.global_pool);
    compare("probe_head", stored.probe_head, wanted.probe_head);
  }
  return out;
}

void check_resume_model(const std::string& request, const std::string& run_dir, const ModelFacts& wanted) {
  if (request.empty()) return;
  std::string stem;
  if (request == "auto") {
    const auto candidates = train::checkpoint_candidates(run_dir);
    if (candidates.empty()) return;
    stem = candidates.front();
  } else {
    stem = train::checkpoint_stem_of(request);
  }
  const auto stored = read_facts(stem + ".safetensors");
  if (!stored.facts) return;  // the loader reports what it finds
  const std::string difference = model_difference(*stored.facts, wanted);
  MAE_CHECK_USAGE(difference.empty(), "--resume ", request, ": ", stem, " holds another model than the settings describe (",
                  difference, "). A run continues with the model it started with: drop the model.* settings that differ ",
                  "(the run's own config.yaml is the base of a resume), or start a new run in another --output folder ",
                  "with --init ", stem, ".safetensors to take its weights");
}

}  // namespace mae::tasks
