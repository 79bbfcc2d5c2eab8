// What loading weights into a model did: which keys were loaded, which were missing or left over
// by design (grouped, with the reason), which were not, shape mismatches, and the conversions made.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mae::weights {

struct KeyGroup {
  std::string group;   // "decoder", "head", "fc_norm", "norm", "fixed sin-cos", "pooler"
  std::string reason;  // why these keys are expected to be absent / unused
  std::vector<std::string> keys;
};

struct ShapeMismatch {
  std::string key;
  std::vector<int64_t> source, target;
};

struct LoadReport {
  std::string scheme;             // key scheme of the source ("official", "easycv", "huggingface")
  std::string stripped_prefix;    // wrapper prefixes removed from every key ("module."), or ""
  double source_layer_norm_eps = 1e-6;  // the source code's LayerNorm eps (1e-12 for HuggingFace)
  std::vector<std::string> loaded;            // model keys filled from the source
  std::vector<KeyGroup> expected_missing;     // model keys the source lacks, by design
  std::vector<KeyGroup> expected_unused;      // source keys the model has no place for, by design
  std::vector<std::string> missing;           // model keys the source lacks: an error unless non-strict
  std::vector<std::string> unexpected;        // source keys the model lacks: an error unless non-strict
  std::vector<ShapeMismatch> shape_mismatches;  // always an error
  std::vector<std::string> notes;             // conversions, resizes, channel adaptation, eps

  // Adds `key` to the group of that name (created with `reason` on first use).
  static void add_to_group(std::vector<KeyGroup>* groups, const std::string& group, const std::string& reason,
                           const std::string& key);
  // Keys of a group, or nullptr when there is no such group.
  const KeyGroup* expected_missing_group(const std::string& group) const;
  const KeyGroup* expected_unused_group(const std::string& group) const;
  bool has_errors(bool non_strict) const;
  // Several lines for people; the keys of long groups are abbreviated.
  std::string to_string() const;
};

}  // namespace mae::weights
