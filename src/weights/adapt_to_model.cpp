#include "weights/adapt_to_model.h"

#include "mae/core/error.h"

namespace mae::weights {
namespace {

std::string grid_text(Grid g) { return str(g.h, "x", g.w); }

// The model's grid: from its patch_embed, else from a square pos_embed.
Grid model_grid(const ModelLayout& model, const torch::Tensor& target, const std::string& key) {
  return model.grid ? *model.grid : square_grid(target.size(1), 1, str("the model's ", key));
}

void adapt_pos_embed(SourceMap* source, const ModelLayout& model, const std::string& key, const LoadOptions& options,
                     LoadReport* report) {
  const auto it = source->find(key);
  if (it == source->end() || !model.has(key)) return;
  const torch::Tensor& target = model.tensors.at(key);
  torch::Tensor& src = it->second;
  if (src.dim() != 3 || target.dim() != 3 || src.size(2) != target.size(2)) return;  // a plain shape mismatch
  const bool other_grid = options.source_grid && model.grid &&
                          (options.source_grid->h != model.grid->h || options.source_grid->w != model.grid->w);
  if (src.size(1) == target.size(1) && !other_grid) return;
  const Grid to = model_grid(model, target, key);
  if (model.fixed.count(key)) {
    const int64_t source_rows = src.size(1);
    src = sincos_pos_embed(target.size(2), to, src.scalar_type());
    report->notes.push_back(str(key, ": fixed sin-cos table regenerated for the ", grid_text(to), " grid (the source had ",
                                source_rows, " rows)"));
    return;
  }
  const Grid from = options.source_grid ? *options.source_grid : square_grid(src.size(1), 1, str("the source's ", key));
  src = resize_pos_embed(src, from, to, 1, options.antialias);
  report->notes.push_back(str(key, ": resized from the ", grid_text(from), " to the ", grid_text(to),
                              " grid (bicubic, align_corners=False", options.antialias ? ", antialias" : "",
                              "; cls position kept)"));
}

void adapt_channels(SourceMap* source, const ModelLayout& model, LoadReport* report) {
  const auto conv = source->find("patch_embed.proj.weight");
  if (conv == source->end() || !model.has(conv->first)) return;
  const auto& target = model.tensors.at(conv->first);
  auto& w = conv->second;
  if (w.dim() != 4 || target.dim() != 4 || w.size(1) == target.size(1) || w.size(0) != target.size(0) ||
      w.size(2) != target.size(2) || w.size(3) != target.size(3)) {
    return;
  }
  const int64_t src_chans = w.size(1), dst_chans = target.size(1);
  w = adapt_input_conv(w, dst_chans);
  report->notes.push_back(str("patch_embed.proj.weight: adapted from ", src_chans, " to ", dst_chans, " input channels (",
                              dst_chans == 1 ? "sum over the source channels, as timm's adapt_input_conv"
                                             : "source channels repeated and scaled by C_src / C",
                              ")"));
  // The pretraining decoder predicts p*p*C values per patch.
  const int64_t area = target.size(2) * target.size(3);
  for (const char* key : {"decoder_pred.weight", "decoder_pred.bias"}) {
    const auto it = source->find(key);
    if (it == source->end() || !model.has(key)) continue;
    if (it->second.size(0) != area * src_chans || model.tensors.at(key).size(0) != area * dst_chans) continue;
    it->second = adapt_patch_pred(it->second, src_chans, dst_chans);
    report->notes.push_back(str(key, ": adapted from ", src_chans, " to ", dst_chans, " channels per pixel (",
                                dst_chans == 1 ? "mean over the source channels" : "source channels repeated", ")"));
  }
}

// head.0 (BatchNorm1d, affine=False) + head.1 (Linear) -> head (Linear) when the model's head is plain.
void fold_probe_head(SourceMap* source, const ModelLayout& model, const LoadOptions& options, LoadReport* report) {
  if (model.head != HeadKind::kLinear || !source->count("head.1.weight") || !source->count("head.0.running_mean") ||
      !source->count("head.0.running_var")) {
    return;
  }
  const auto bias = source->count("head.1.bias") ? source->at("head.1.bias")
                                                 : torch::zeros({source->at("head.1.weight").size(0)});
  auto [w, b] = fold_batchnorm_into_linear(source->at("head.0.running_mean"), source->at("head.0.running_var"),
                                           options.probe_batchnorm_eps, source->at("head.1.weight"), bias);
  for (const char* key : {"head.0.running_mean", "head.0.running_var", "head.0.num_batches_tracked", "head.1.weight",
                          "head.1.bias"}) {
    source->erase(key);
  }
  (*source)["head.weight"] = w;
  (*source)["head.bias"] = b;
  report->notes.push_back(str("linear-probe head (head.0 BatchNorm1d without affine, eps ", options.probe_batchnorm_eps,
                              ", then head.1 Linear) folded into one Linear head, equal in eval mode"));
}

void reinit_head_for_new_task(SourceMap* source, const ModelLayout& model, LoadReport* report) {
  const auto w = source->find("head.weight");
  if (w == source->end() || !model.has("head.weight") || w->second.sizes() == model.tensors.at("head.weight").sizes()) {
    return;
  }
  const std::string reason = str("new task: the source head has ", w->second.size(0), " classes, the model ",
                                 model.tensors.at("head.weight").size(0), "; the head keeps its initialisation");
  for (const char* key : {"head.weight", "head.bias"}) {
    source->erase(key);
    if (model.has(key)) LoadReport::add_to_group(&report->expected_missing, "head", reason, key);
  }
}

}  // namespace

void adapt_to_model(SourceMap* source, const ModelLayout& model, const LoadOptions& options, LoadReport* report) {
  fold_probe_head(source, model, options, report);
  if (options.reinit_mismatched_head) reinit_head_for_new_task(source, model, report);
  adapt_pos_embed(source, model, "pos_embed", options, report);
  adapt_pos_embed(source, model, "decoder_pos_embed", options, report);
  adapt_channels(source, model, report);
}

}  // namespace mae::weights
