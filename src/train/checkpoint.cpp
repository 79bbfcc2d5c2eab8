#include "mae/train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/io/safetensors.h"
#include "mae/optim/lars.h"

namespace mae::train {
namespace fs = std::filesystem;

namespace {

// Per parameter: AdamW's exp_avg, exp_avg_sq and step, or LARS's momentum_buffer.
io::NamedTensors optimizer_tensors(const torch::optim::Optimizer& optimizer, const std::vector<optim::ParamGroup>& groups) {
  io::NamedTensors out;
  auto& state = const_cast<torch::optim::Optimizer&>(optimizer).state();
  for (const auto& g : groups) {
    for (size_t i = 0; i < g.params.size(); ++i) {
      auto it = state.find(optim::optimizer_state_key(g.params[i]));
      if (it == state.end()) continue;
      const std::string prefix = "optim." + g.names[i] + ".";
      if (const auto* adam = dynamic_cast<const torch::optim::AdamWParamState*>(it->second.get())) {
        out.emplace_back(prefix + "exp_avg", adam->exp_avg());
        out.emplace_back(prefix + "exp_avg_sq", adam->exp_avg_sq());
        out.emplace_back(prefix + "step", torch::tensor(adam->step(), torch::kInt64));
      } else if (const auto* lars = dynamic_cast<const optim::LarsParamState*>(it->second.get())) {
        out.emplace_back(prefix + "momentum_buffer", lars->momentum_buffer());
      } else {
        throw Error("checkpoint: cannot save the state of this optimizer (AdamW and LARS are supported)");
      }
    }
  }
  return out;
}

std::unique_ptr<torch::optim::OptimizerParamState> restore_param_state(const torch::optim::Optimizer& optimizer,
                                                                       const std::map<std::string, torch::Tensor>& tensors,
                                                                       const std::string& name, const torch::Tensor& param,
                                                                       const std::string& file) {
  const std::string prefix = "optim." + name + ".";
  auto find = [&](const char* what) -> const torch::Tensor* {
    auto it = tensors.find(prefix + what);
    if (it == tensors.end()) return nullptr;
    MAE_CHECK(it->second.sizes() == param.sizes() || it->second.dim() == 0, file, ": optimizer state '", prefix, what,
              "' has shape ", it->second.sizes(), " but the parameter has ", param.sizes());
    return &it->second;
  };
  if (dynamic_cast<const optim::Lars*>(&optimizer)) {
    const auto* mu = find("momentum_buffer");
    if (!mu) return nullptr;  // no step taken for this parameter yet
    auto s = std::make_unique<optim::LarsParamState>();
    s->momentum_buffer(mu->to(param.options()));
    return s;
  }
  const auto *m = find("exp_avg"), *v = find("exp_avg_sq"), *step = find("step");
  if (!m) return nullptr;
  MAE_CHECK(v && step, file, ": optimizer state of '", name, "' is incomplete (exp_avg without exp_avg_sq/step)");
  auto s = std::make_unique<torch::optim::AdamWParamState>();
  s->step(step->item<int64_t>());
  s->exp_avg(m->to(param.options()));
  s->exp_avg_sq(v->to(param.options()));
  return s;
}

// The training position as the state file's "train_state" JSON, written and read here only. Only
// the epoch is required; a key a checkpoint lacks (older ones) takes TrainState's initial value.
std::string encode_train_state(const TrainState& s) {
  return nlohmann::json{{"epoch", s.epoch},
                        {"batches_done", s.batches_done},
                        {"iteration", s.iteration},
                        {"skipped_steps", s.skipped_steps},
                        {"lr_factor", s.lr_factor},
                        {"loss_scale", s.loss_scale.scale},
                        {"loss_scale_growth_tracker", s.loss_scale.growth_tracker},
                        {"epoch_loss_sum", s.epoch_loss_sum},
                        {"epoch_loss_steps", s.epoch_loss_steps}}
      .dump();
}

// Throws nlohmann::json::exception when the text is not such JSON.
TrainState decode_train_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  TrainState s;
  j.at("epoch").get_to(s.epoch);
  auto optional = [&](const char* key, auto* member) {
    const auto it = j.find(key);
    if (it != j.end()) it->get_to(*member);
  };
  optional("iteration", &s.iteration);
  optional("skipped_steps", &s.skipped_steps);
  optional("lr_factor", &s.lr_factor);
  optional("batches_done", &s.batches_done);
  optional("epoch_loss_sum", &s.epoch_loss_sum);
  optional("epoch_loss_steps", &s.epoch_loss_steps);
  optional("loss_scale", &s.loss_scale.scale);
  optional("loss_scale_growth_tracker", &s.loss_scale.growth_tracker);
  return s;
}

// The weights file records its step ("epoch", "iteration") as metadata: it must be the state's.
bool same_step(const std::map<std::string, std::string>& weights_metadata, const TrainState& s) {
  const auto epoch = weights_metadata.find("epoch"), iteration = weights_metadata.find("iteration");
  return epoch != weights_metadata.end() && epoch->second == std::to_string(s.epoch) &&
         (iteration == weights_metadata.end() || iteration->second == std::to_string(s.iteration));
}

}  // namespace

std::string checkpoint_stem(const std::string& run_dir, int64_t epoch) {
  char name[32];
  std::snprintf(name, sizeof(name), "checkpoint-%04lld", static_cast<long long>(epoch));
  return (fs::path(run_dir) / name).string();
}

std::string last_checkpoint_stem(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoint-last").string(); }

void keep_as_previous(const std::string& last_stem) {
  const std::string previous = (fs::path(last_stem).parent_path() / "checkpoint-prev").string();
  const auto last = CheckpointFiles::from_stem(last_stem), prev = CheckpointFiles::from_stem(previous);
  for (const auto& [from, to] : {std::pair{last.state, prev.state}, std::pair{last.weights, prev.weights}}) {
    if (!fs::exists(from)) continue;
    // A hard link under a temporary name, renamed over the old one: no data is copied, and at
    // every moment `to` is a whole file.
    const std::string tmp = to + ".tmp-link";
    std::error_code error;
    fs::remove(tmp, error);
    fs::create_hard_link(from, tmp, error);
    if (!error) fs::rename(tmp, to, error);
    MAE_CHECK(!error, "cannot keep ", from, " as ", to, " before overwriting it: ", error.message(),
              "; check the run folder's file system (it must support hard links)");
  }
}

std::string checkpoint_stem_of(const std::string& path) {
  for (const char* suffix : {".state.safetensors", ".safetensors"}) {
    const std::string s(suffix);
    if (path.size() > s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0) {
      return path.substr(0, path.size() - s.size());
    }
  }
  return path;
}

namespace {

// The random generators' states: a run resumed inside an epoch draws what it would have drawn
// (drop path), so it stays bitwise equal to an uninterrupted one.
io::NamedTensors generator_states() {
  io::NamedTensors out = {{"rng.cpu", at::detail::getDefaultCPUGenerator().get_state()}};
  if (torch::cuda::is_available()) {
    out.emplace_back("rng.cuda", at::globalContext().defaultGenerator(c10::Device(c10::kCUDA)).get_state());
  }
  return out;
}

void restore_generator_states(const std::map<std::string, torch::Tensor>& tensors) {
  auto restore = [&](const char* name, at::Generator generator) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return;
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(it->second);
  };
  restore("rng.cpu", at::detail::getDefaultCPUGenerator());
  if (torch::cuda::is_available()) restore("rng.cuda", at::globalContext().defaultGenerator(c10::Device(c10::kCUDA)));
}

}  // namespace

void save_checkpoint(const std::string& stem, const torch::nn::Module& model,
                     const std::map<std::string, std::string>& metadata, const torch::optim::Optimizer* optimizer,
                     const std::vector<optim::ParamGroup>* groups, const TrainState* state) {
  const auto files = CheckpointFiles::from_stem(stem);
  if (state || (optimizer && groups)) {
    io::NamedTensors tensors;
    if (optimizer && groups) tensors = optimizer_tensors(*optimizer, *groups);
    std::map<std::string, std::string> meta = {{kFormatKey, kFormatValue}};
    if (state) {
      meta["train_state"] = encode_train_state(*state);
      for (auto& [name, rng] : generator_states()) tensors.emplace_back(name, rng);
    }
    io::write_safetensors(files.state, tensors, meta);
  }
  io::NamedTensors weights;
  for (const auto& kv : model.named_parameters()) weights.emplace_back(kv.key(), kv.value());
  for (const auto& kv : model.named_buffers()) weights.emplace_back(kv.key(), kv.value());
  auto meta = metadata;
  meta[kFormatKey] = kFormatValue;
  if (state) meta["epoch"] = std::to_string(state->epoch), meta["iteration"] = std::to_string(state->iteration);
  io::write_safetensors(files.weights, weights, meta);
}

namespace {

// The model's tensors by state-dict key; the weights file must hold exactly these, shape for shape
// (checked on the header, before any data is read).
std::map<std::string, torch::Tensor> checked_model_tensors(const torch::nn::Module& model, const std::string& file) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& kv : model.named_parameters()) tensors.emplace(kv.key(), kv.value());
  for (const auto& kv : model.named_buffers()) tensors.emplace(kv.key(), kv.value());
  std::set<std::string> in_file;
  for (const auto& e : io::read_safetensors_header(file).entries) {
    auto it = tensors.find(e.name);
    MAE_CHECK(it != tensors.end(), file, ": holds '", e.name, "', which the model does not have; the checkpoint belongs to",
              " another model (check model.* in its config)");
    MAE_CHECK(it->second.sizes() == c10::IntArrayRef(e.shape), file, ": '", e.name, "' has shape ", c10::IntArrayRef(e.shape),
              " but the model expects ", it->second.sizes(), "; the checkpoint belongs to another model size (check model.* in its config)");
    in_file.insert(e.name);
  }
  for (const auto& kv : tensors) {
    MAE_CHECK(in_file.count(kv.first), file, ": lacks '", kv.first, "'; the checkpoint belongs to another model (check model.* in its config)");
  }
  return tensors;
}

// `t` itself when the file's bytes can go straight into it.
torch::Tensor in_place(const torch::Tensor& t, const io::SafetensorsEntry& e) {
  const bool direct = t.defined() && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == e.dtype &&
                      t.sizes() == c10::IntArrayRef(e.shape);
  return direct ? t : torch::Tensor();
}

// The optimizer's current state tensors by their checkpoint names ("optim.<param>.exp_avg"), so
// that loading into an optimizer that has state (a rollback) reuses its memory.
std::map<std::string, torch::Tensor> current_optimizer_tensors(const torch::optim::Optimizer* optimizer,
                                                               const std::vector<optim::ParamGroup>* groups) {
  std::map<std::string, torch::Tensor> out;
  if (!optimizer || !groups) return out;
  for (auto& [name, t] : optimizer_tensors(*optimizer, *groups)) {
    if (!name.empty() && name.compare(name.size() - 5, 5, ".step") != 0) out.emplace(name, t);
  }
  return out;
}

}  // namespace

void load_checkpoint(const std::string& stem, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const std::vector<optim::ParamGroup>* groups, TrainState* state) {
  const auto files = CheckpointFiles::from_stem(stem);
  torch::NoGradGuard no_grad;
  io::SafetensorsFile train_file;
  if (state || optimizer) {
    const auto reuse = current_optimizer_tensors(optimizer, groups);
    train_file = io::read_safetensors_into(files.state, [&](const io::SafetensorsEntry& e) {
      auto it = reuse.find(e.name);
      return it == reuse.end() ? torch::Tensor() : in_place(it->second, e);
    });
  }
  // The weights go straight into the parameters when they live on the CPU; others are copied.
  const auto targets = checked_model_tensors(model, files.weights);
  auto weights = io::read_safetensors_into(files.weights, [&](const io::SafetensorsEntry& e) { return in_place(targets.at(e.name), e); });
  for (const auto& [key, target] : targets) {
    const auto& loaded = weights.tensors.at(key);
    if (!loaded.is_same(target)) target.copy_(loaded);  // a parameter off the CPU
  }
  weights.tensors.clear();

  if (state) {
    auto it = train_file.metadata.find("train_state");
    MAE_CHECK(it != train_file.metadata.end(), files.state, ": lacks train_state metadata; not a mae checkpoint");
    try {
      *state = decode_train_state(it->second);
      MAE_CHECK(same_step(weights.metadata, *state), stem, ": weights and state are from different steps (a write was interrupted); use another checkpoint");
      restore_generator_states(train_file.tensors);
    } catch (const nlohmann::json::exception& e) {
      throw Error(str(files.state, ": train_state is malformed (", e.what(), ")"));
    }
  }
  if (optimizer && groups) {
    auto& opt_state = optimizer->state();
    opt_state.clear();
    for (const auto& g : *groups) {
      for (size_t i = 0; i < g.params.size(); ++i) {
        auto s = restore_param_state(*optimizer, train_file.tensors, g.names[i], g.params[i], files.state);
        if (s) opt_state[optim::optimizer_state_key(g.params[i])] = std::move(s);
      }
    }
  }
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& weights_path) {
  return io::read_safetensors_header(weights_path).metadata;
}

std::optional<std::string> find_latest_checkpoint(const std::string& run_dir) {
  const auto stems = checkpoint_candidates(run_dir);
  if (stems.empty()) return std::nullopt;
  return stems.front();
}

std::vector<std::string> checkpoint_candidates(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) return {};
  struct Candidate {
    int64_t iteration, epoch;
    std::string stem;
  };
  std::vector<Candidate> candidates;
  static const std::regex name("checkpoint-([0-9]+|last|prev)\\.safetensors");
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (!std::regex_match(file, m, name)) continue;
    const std::string stem = checkpoint_stem_of(entry.path().string());
    try {
      // Both headers must be valid and both files long enough for every tensor they declare; the
      // data is not read (tens of GB per candidate for ViT-H). The epoch comes from the state file.
      const auto weights = io::read_safetensors_header(stem + ".safetensors");
      const auto state_file = io::read_safetensors_header(stem + ".state.safetensors");
      MAE_CHECK(state_file.metadata.count("train_state"), "the state file lacks train_state metadata");
      const TrainState s = decode_train_state(state_file.metadata.at("train_state"));
      MAE_CHECK(same_step(weights.metadata, s), "weights and state are from different steps (a write was interrupted)");
      candidates.push_back({s.iteration, s.epoch, stem});
    } catch (const std::exception& e) {
      // Said once: the model check and the resume both list the candidates.
      static std::set<std::string> reported;
      if (reported.insert(stem + e.what()).second) std::cerr << "warning: skipping checkpoint " << stem << ": " << e.what() << "\n";
    }
  }
  // Most steps first (checkpoint-last may be inside a later epoch); between equals prefer the
  // numbered one (identical content).
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.iteration != b.iteration) return a.iteration > b.iteration;
    if (a.epoch != b.epoch) return a.epoch > b.epoch;
    return a.stem < b.stem;
  });
  std::vector<std::string> stems;
  for (auto& c : candidates) stems.push_back(std::move(c.stem));
  return stems;
}

void prune_checkpoints(const std::string& run_dir, int64_t keep) {
  if (keep <= 0 || !fs::is_directory(run_dir)) return;
  static const std::regex name("checkpoint-([0-9]+)\\.safetensors");
  std::vector<std::string> stems;
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, name)) stems.push_back(checkpoint_stem_of(entry.path().string()));
  }
  std::sort(stems.rbegin(), stems.rend());  // zero-padded: lexical order is epoch order
  for (size_t i = static_cast<size_t>(keep); i < stems.size(); ++i) {
    std::error_code ignored;
    fs::remove(stems[i] + ".safetensors", ignored);
    fs::remove(stems[i] + ".state.safetensors", ignored);
  }
}

}  // namespace mae::train
