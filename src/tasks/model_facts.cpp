#include "mae/tasks/model_facts.h"

#include "mae/core/error.h"
#include "mae/core/parse.h"
#include "mae/core/log.h"
#include "mae/train/checkpoint.h"

namespace mae::tasks {
namespace {

template <typename Options>
nlohmann::json encoder_facts(const Options& o, const std::vector<double>& mean, const std::vector<double>& std) {
  return {{"img_h", o.img_h},         {"img_w", o.img_w},         {"patch_size", o.patch_size},
          {"in_chans", o.in_chans},   {"embed_dim", o.embed_dim}, {"depth", o.depth},
          {"num_heads", o.num_heads}, {"mlp_ratio", o.mlp_ratio}, {"norm_eps", o.norm_eps},
          {"mean", mean},             {"std", std}};
}

template <typename Options>
void encoder_from_facts(const nlohmann::json& f, Options* o) {
  o->img_h = f.at("img_h"), o->img_w = f.at("img_w"), o->patch_size = f.at("patch_size");
  o->in_chans = f.at("in_chans"), o->embed_dim = f.at("embed_dim"), o->depth = f.at("depth");
  o->num_heads = f.at("num_heads"), o->mlp_ratio = f.at("mlp_ratio");
  if (f.contains("norm_eps")) o->norm_eps = f.at("norm_eps");
}

// Format 1 stored every fact as a string ("0.000001", "true", "0.5,0.5", a JSON list of names).
nlohmann::json from_strings(const std::map<std::string, std::string>& m) {
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [key, text] : m) {
    if (key == train::kFormatKey || key == train::kConfigKey) continue;
    int64_t i = 0;
    double d = 0;
    if (key == "class_names") {
      f[key] = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
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

nlohmann::json mae_facts(const models::MaeViTOptions& o, double mask_ratio, const std::vector<double>& mean,
                         const std::vector<double>& std) {
  auto f = encoder_facts(o, mean, std);
  f["model"] = "mae";
  f["decoder_embed_dim"] = o.decoder_embed_dim;
  f["decoder_depth"] = o.decoder_depth;
  f["decoder_num_heads"] = o.decoder_num_heads;
  f["norm_pix_loss"] = o.norm_pix_loss;
  f["mask_ratio"] = mask_ratio;
  return f;
}

nlohmann::json vit_facts(const models::VisionTransformerOptions& o, const std::vector<std::string>& class_names,
                         const std::vector<double>& mean, const std::vector<double>& std) {
  auto f = encoder_facts(o, mean, std);
  f["model"] = "vit";
  f["num_classes"] = o.num_classes;
  f["global_pool"] = o.global_pool;
  f["probe_head"] = o.probe_head;
  f["class_names"] = class_names;
  return f;
}

std::map<std::string, std::string> facts_metadata(const nlohmann::json& facts, const std::string& config_yaml) {
  return {{train::kFormatKey, train::kFormatValue}, {train::kFactsKey, facts.dump()}, {train::kConfigKey, config_yaml}};
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
  auto config = metadata.find(train::kConfigKey);
  if (config != metadata.end()) out.config_yaml = config->second;
  auto facts = metadata.find(train::kFactsKey);
  if (facts == metadata.end()) {
    out.facts = from_strings(metadata);
    return out;
  }
  out.facts = nlohmann::json::parse(facts->second, nullptr, /*allow_exceptions=*/false);
  MAE_CHECK(out.facts.is_object(), weights_path, ": the checkpoint's \"facts\" metadata is not a JSON object; the file is "
            "damaged, use another checkpoint");
  return out;
}

models::VisionTransformerOptions vit_options_from_facts(const nlohmann::json& f, models::VisionTransformerOptions o) {
  try {
    encoder_from_facts(f, &o);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str("checkpoint facts lack the encoder's shape (", e.what(), ")"));
  }
  return o;
}

std::string model_difference(const nlohmann::json& stored, const nlohmann::json& wanted) {
  static const char* const kShape[] = {"model",     "img_h",     "img_w",   "patch_size",        "in_chans",
                                       "embed_dim", "depth",     "num_heads", "mlp_ratio",      "decoder_embed_dim",
                                       "decoder_depth", "decoder_num_heads", "num_classes", "global_pool", "probe_head"};
  std::string out;
  for (const char* key : kShape) {
    if (!stored.contains(key) || !wanted.contains(key) || stored[key] == wanted[key]) continue;
    out += str(out.empty() ? "" : ", ", key, " ", stored[key].dump(), " in the checkpoint but ", wanted[key].dump(), " now");
  }
  return out;
}

void check_resume_model(const std::string& request, const std::string& run_dir, const nlohmann::json& wanted) {
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
  if (!stored.ours()) return;  // the loader reports what it finds
  const std::string difference = model_difference(stored.facts, wanted);
  MAE_CHECK_USAGE(difference.empty(), "--resume ", request, ": ", stem, " holds another model than the settings describe (",
                  difference, "). A run continues with the model it started with: drop the model.* settings that differ ",
                  "(the run's own config.yaml is the base of a resume), or start a new run in another --output folder ",
                  "with --init ", stem, ".safetensors to take its weights");
}

}  // namespace mae::tasks
