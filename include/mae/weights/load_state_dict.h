// Loading weights of any scheme into one of our models (MaskedAutoencoderViT, VisionTransformer,
// or any torch::nn::Module with the official names), with a LoadReport.
//
// Before matching names it adapts what differs by design, each with a note in the report:
//   - pos_embed / decoder_pos_embed for another grid: a fixed sin-cos table (requires_grad false in
//     the model) is regenerated; a learnable one is resized bicubically (adapt_weights.h);
//   - patch_embed.proj.weight and decoder_pred for another channel count (adapt_input_conv);
//   - the linear-probe head (head.0 BatchNorm, head.1 Linear) folded into a plain Linear head;
//   - a head for another class count, when reinit_mismatched_head is set.
// Keys absent or left over by design are grouped as expected (decoder when fine-tuning, head and
// fc_norm for a new task, the encoder's norm under global pooling, ...).
#pragma once

#include <optional>
#include <string>

#include <torch/torch.h>

#include "mae/weights/adapt_weights.h"
#include "mae/weights/key_schemes.h"
#include "mae/weights/load_report.h"

namespace mae::weights {

struct LoadOptions {
  std::optional<Scheme> scheme;            // detected from the keys when unset
  bool non_strict = false;                 // missing / unexpected keys are reported, not errors
  bool reinit_mismatched_head = false;     // a head of another class count keeps its initialisation
  std::optional<Grid> source_grid;         // the source's position grid when it is not square
  bool antialias = false;                  // pos_embed resize: timm's antialias=True when shrinking
  std::optional<double> source_layer_norm_eps;  // when known (HuggingFace config.json layer_norm_eps)
  double probe_batchnorm_eps = 1e-6;       // eps of the linear-probe BatchNorm1d (official: 1e-6)
};

// Copies `source` into `model`'s parameters and buffers (converted to their dtype and device).
// Throws mae::Error carrying the report's text when shapes mismatch, or when keys are missing or
// unexpected and options.non_strict is false; the model is unchanged then.
LoadReport load_state_dict(torch::nn::Module& model, const NamedTensors& source, const LoadOptions& options = {});

// read_weights(path) then load_state_dict; the reader's notes join the report's, and errors name
// the file.
LoadReport load_weights(torch::nn::Module& model, const std::string& path, const LoadOptions& options = {});

}  // namespace mae::weights
