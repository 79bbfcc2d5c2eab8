#include "mae/weights/load_report.h"

#include <sstream>

#include <torch/torch.h>

namespace mae::weights {
namespace {

constexpr size_t kKeysShown = 6;

std::string key_list(const std::vector<std::string>& keys) {
  std::ostringstream out;
  for (size_t i = 0; i < keys.size() && i < kKeysShown; ++i) out << (i ? ", " : "") << keys[i];
  if (keys.size() > kKeysShown) out << ", ... (" << keys.size() - kKeysShown << " more)";
  return out.str();
}

const KeyGroup* find_group(const std::vector<KeyGroup>& groups, const std::string& group) {
  for (const auto& g : groups) {
    if (g.group == group) return &g;
  }
  return nullptr;
}

}  // namespace

void LoadReport::add_to_group(std::vector<KeyGroup>* groups, const std::string& group, const std::string& reason,
                              const std::string& key) {
  for (auto& g : *groups) {
    if (g.group == group) {
      g.keys.push_back(key);
      return;
    }
  }
  groups->push_back(KeyGroup{group, reason, {key}});
}

const KeyGroup* LoadReport::expected_missing_group(const std::string& group) const {
  return find_group(expected_missing, group);
}
const KeyGroup* LoadReport::expected_unused_group(const std::string& group) const {
  return find_group(expected_unused, group);
}

bool LoadReport::has_errors(bool non_strict) const {
  return !shape_mismatches.empty() || (!non_strict && (!missing.empty() || !unexpected.empty()));
}

std::string LoadReport::to_string() const {
  std::ostringstream out;
  out << "loaded " << loaded.size() << " tensors (key scheme " << scheme
      << (stripped_prefix.empty() ? "" : ", prefix '" + stripped_prefix + "' stripped") << ")\n";
  for (const auto& g : expected_missing) {
    out << "  expected missing, " << g.group << " (" << g.keys.size() << "): " << g.reason << "\n";
  }
  for (const auto& g : expected_unused) {
    out << "  expected unused, " << g.group << " (" << g.keys.size() << "): " << g.reason << "\n";
  }
  if (!missing.empty()) out << "  MISSING from the source (" << missing.size() << "): " << key_list(missing) << "\n";
  if (!unexpected.empty()) {
    out << "  UNEXPECTED in the source (" << unexpected.size() << "): " << key_list(unexpected) << "\n";
  }
  for (const auto& m : shape_mismatches) {
    out << "  SHAPE MISMATCH " << m.key << ": source " << torch::IntArrayRef(m.source) << ", model "
        << torch::IntArrayRef(m.target)
        << (m.key.rfind("head.", 0) == 0 ? " (a head for another class count: reinitialise it for the new task)" : "")
        << "\n";
  }
  for (const auto& n : notes) out << "  note: " << n << "\n";
  return out.str();
}

}  // namespace mae::weights
