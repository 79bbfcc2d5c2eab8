#include "mae/weights/key_schemes.h"

#include "mae/core/error.h"
#include "weights/scheme_huggingface.h"

namespace mae::weights {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

constexpr const char* kWrapperPrefixes[] = {"module.", "_orig_mod.", "model.", "state_dict."};
constexpr const char* kEasyCVEncoder = "encoder.";
constexpr const char* kEasyCVDecoder = "decoder.";

Converted from_easycv(const NamedTensors& tensors) {
  Converted out{{}, {}, {"stripped EasyCV's 'encoder.' / 'decoder.' prefixes"}};
  for (const auto& [name, t] : tensors) {
    std::string ours = name;
    for (const std::string prefix : {kEasyCVEncoder, kEasyCVDecoder}) {
      if (starts_with(name, prefix)) ours = name.substr(prefix.size());
    }
    out.tensors.emplace_back(ours, t);
  }
  return out;
}

NamedTensors to_easycv(const NamedTensors& ours) {
  NamedTensors out;
  for (const auto& [name, t] : ours) {
    const KeyPart part = key_part(name);
    MAE_CHECK(part != KeyPart::kHead && part != KeyPart::kFcNorm, "'", name,
              "' has no EasyCV name: EasyCV's encoder./decoder. names cover the pretraining model; export "
              "fine-tuned weights with the official scheme");
    out.emplace_back((part == KeyPart::kDecoder ? kEasyCVDecoder : kEasyCVEncoder) + name, t);
  }
  return out;
}

}  // namespace

std::string scheme_name(Scheme scheme) { return core::choice_name(kSchemeNames, scheme); }

Scheme parse_scheme(const std::string& name) { return core::parse_choice(kSchemeNames, name, "the key scheme"); }

double default_layer_norm_eps(Scheme scheme) { return scheme == Scheme::kHuggingFace ? 1e-12 : 1e-6; }

Scheme detect_scheme(const NamedTensors& tensors) {
  bool easycv = false;
  for (const auto& [name, t] : tensors) {
    if (hf::is_huggingface_key(name)) return Scheme::kHuggingFace;
    easycv = easycv || starts_with(name, kEasyCVEncoder) || starts_with(name, kEasyCVDecoder);
  }
  return easycv ? Scheme::kEasyCV : Scheme::kOfficial;
}

std::string strip_wrapper_prefixes(NamedTensors* tensors) {
  std::string stripped;
  for (bool again = !tensors->empty(); again;) {
    again = false;
    for (const char* prefix : kWrapperPrefixes) {
      bool all = true;
      for (const auto& [name, t] : *tensors) all = all && starts_with(name, prefix) && name.size() > std::string(prefix).size();
      if (!all) continue;
      for (auto& [name, t] : *tensors) name = name.substr(std::string(prefix).size());
      stripped += prefix;
      again = true;
    }
  }
  return stripped;
}

KeyPart key_part(const std::string& key) {
  if (starts_with(key, "decoder_") || starts_with(key, "mask_token")) return KeyPart::kDecoder;
  if (starts_with(key, "head.")) return KeyPart::kHead;
  if (starts_with(key, "fc_norm.")) return KeyPart::kFcNorm;
  if (starts_with(key, "norm.")) return KeyPart::kNorm;
  return KeyPart::kEncoder;
}

NamedTensors select_encoder(const NamedTensors& tensors) {
  NamedTensors out;
  for (const auto& entry : tensors) {
    if (key_part(entry.first) != KeyPart::kDecoder) out.push_back(entry);
  }
  return out;
}

Converted from_scheme(const NamedTensors& tensors, Scheme scheme) {
  switch (scheme) {
    case Scheme::kEasyCV: return from_easycv(tensors);
    case Scheme::kHuggingFace: return hf::to_ours(tensors);
    case Scheme::kOfficial: break;
  }
  return Converted{tensors, {}, {}};
}

NamedTensors to_scheme(const NamedTensors& ours, Scheme scheme) {
  switch (scheme) {
    case Scheme::kEasyCV: return to_easycv(ours);
    case Scheme::kHuggingFace: return hf::from_ours(ours);
    case Scheme::kOfficial: break;
  }
  return ours;
}

}  // namespace mae::weights
