#include "mae/weights/load_state_dict.h"

#include <cmath>

#include "weights/adapt_to_model.h"
#include "mae/core/error.h"
#include "mae/io/weights_file.h"
#include "weights/model_layout.h"

namespace mae::weights {
namespace {

bool has_part(const SourceMap& source, KeyPart part) {
  for (const auto& [name, t] : source) {
    if (key_part(name) == part) return true;
  }
  return false;
}

const char* part_name(KeyPart part) { return core::choice_name(kKeyPartNames, part); }

// A model key the source lacks: expected (added to a group) or not.
void classify_missing(const std::string& key, const SourceMap& source, const ModelLayout& model, LoadReport* r) {
  const KeyPart part = key_part(key);
  const bool source_lacks_part = part != KeyPart::kEncoder && part != KeyPart::kNorm && !has_part(source, part);
  if (model.fixed.count(key)) {
    LoadReport::add_to_group(&r->expected_missing, "fixed sin-cos", "fixed tables, kept as computed for the model's grid", key);
  } else if (source_lacks_part) {
    static constexpr core::Choice<KeyPart> kWhy[] = {
        {KeyPart::kDecoder, "the source holds the encoder only (as the released mae_pretrain_vit_*.pth); the decoder "
                            "keeps its initialisation"},
        {KeyPart::kHead, "a new classification head, initialised fresh"},
        {KeyPart::kFcNorm, "global pooling starts fc_norm fresh, as the official fine-tuning does"}};
    LoadReport::add_to_group(&r->expected_missing, part_name(part), core::choice_name(kWhy, part), key);
  } else {
    r->missing.push_back(key);
  }
}

// A source key the model lacks: expected (added to a group) or not.
void classify_unused(const std::string& key, const ModelLayout& model, LoadReport* r) {
  const KeyPart part = key_part(key);
  const bool final_norm = part == KeyPart::kNorm || part == KeyPart::kFcNorm;
  if (part == KeyPart::kDecoder && !model.has_decoder) {
    LoadReport::add_to_group(&r->expected_unused, "decoder", "the decoder serves pretraining only", key);
  } else if (part == KeyPart::kNorm && model.has_fc_norm && !model.has_norm) {
    LoadReport::add_to_group(&r->expected_unused, "norm",
                             "global pooling uses fc_norm instead of the encoder's final norm (as official models_vit)", key);
  } else if (final_norm && !model.has_norm && !model.has_fc_norm) {
    LoadReport::add_to_group(&r->expected_unused, part_name(part),
                             "the model reads the blocks' outputs without a final norm (a dense-prediction backbone, as "
                             "mmseg's MAE)", key);
  } else if (part == KeyPart::kHead && model.head == HeadKind::kNone) {
    LoadReport::add_to_group(&r->expected_unused, "head", "the model has no classification head", key);
  } else {
    r->unexpected.push_back(key);
  }
}

bool listed(const std::vector<KeyGroup>& groups, const std::string& key) {
  for (const auto& g : groups) {
    for (const auto& k : g.keys) {
      if (k == key) return true;
    }
  }
  return false;
}

void note_layer_norm_eps(const ModelLayout& model, LoadReport* r) {
  if (!model.layer_norm_eps) return;
  const double model_eps = *model.layer_norm_eps, source_eps = r->source_layer_norm_eps;
  if (std::abs(model_eps - source_eps) <= 1e-3 * std::max(model_eps, source_eps)) return;
  r->notes.push_back(str("LayerNorm eps: the source's code uses ", source_eps, ", this model ", model_eps,
                         "; outputs differ slightly unless the model is built with eps ", source_eps));
}

}  // namespace

LoadReport load_state_dict(torch::nn::Module& model, const NamedTensors& source, const LoadOptions& options) {
  LoadReport report;
  NamedTensors named = source;
  report.stripped_prefix = strip_wrapper_prefixes(&named);
  const Scheme scheme = options.scheme ? *options.scheme : detect_scheme(named);
  report.scheme = scheme_name(scheme);
  report.source_layer_norm_eps = options.source_layer_norm_eps.value_or(default_layer_norm_eps(scheme));
  Converted converted = from_scheme(named, scheme);
  report.notes = converted.notes;
  for (const auto& key : converted.dropped) {
    LoadReport::add_to_group(&report.expected_unused, "pooler", "HuggingFace ViTModel's pooler has no counterpart in MAE / timm", key);
  }
  SourceMap src;
  for (auto& [name, t] : converted.tensors) {
    MAE_CHECK(src.emplace(name, t).second, "weights: key '", name, "' appears twice after conversion from ",
              report.scheme, " names");
  }

  const ModelLayout layout = describe_model(model);
  adapt_to_model(&src, layout, options, &report);

  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (model tensor, source tensor)
  int converted_dtype = 0;
  for (const auto& key : layout.order) {
    const auto it = src.find(key);
    const torch::Tensor& target = layout.tensors.at(key);
    if (it == src.end()) {
      if (!listed(report.expected_missing, key)) classify_missing(key, src, layout, &report);
    } else if (it->second.sizes() != target.sizes()) {
      report.shape_mismatches.push_back(ShapeMismatch{key, it->second.sizes().vec(), target.sizes().vec()});
    } else {
      report.loaded.push_back(key);
      copies.emplace_back(target, it->second);
      converted_dtype += it->second.scalar_type() != target.scalar_type();
    }
  }
  for (const auto& [name, t] : src) {
    if (!layout.has(name)) classify_unused(name, layout, &report);
  }
  if (converted_dtype > 0) report.notes.push_back(str(converted_dtype, " tensors converted to the model's dtype"));
  note_layer_norm_eps(layout, &report);
  MAE_CHECK(!report.has_errors(options.non_strict), "the weights do not fit the model",
            report.shape_mismatches.empty() ? " (load non-strict to accept missing or unexpected keys)" : "", ":\n",
            report.to_string());
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

LoadReport load_weights(torch::nn::Module& model, const std::string& path, const LoadOptions& options) {
  const io::WeightsFile file = io::read_weights(path);
  try {
    LoadReport report = load_state_dict(model, file.tensors, options);
    if (!file.state_dict_key.empty()) report.notes.insert(report.notes.begin(), str("state dict found under '", file.state_dict_key, "'"));
    report.notes.insert(report.notes.end(), file.notes.begin(), file.notes.end());
    return report;
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw Error(str(path, ": ", e.what()));
  }
}

}  // namespace mae::weights
