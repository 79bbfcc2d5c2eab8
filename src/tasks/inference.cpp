#include "mae/tasks/inference.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/data/factory.h"
#include "mae/eval/knn.h"
#include "mae/io/npy.h"
#include "mae/io/safetensors.h"
#include "mae/tasks/classify.h"
#include "mae/tasks/knn_monitor.h"

namespace mae::tasks {
namespace fs = std::filesystem;
namespace {

// An evaluation-transform loader over a split, in dataset order.
std::unique_ptr<data::Loader> ordered_loader(const data::DataOptions& data, std::shared_ptr<const data::Source> source,
                                             const models::VisionTransformer& vit) {
  const auto& o = vit->options();
  auto transform = std::make_shared<const data::SampleTransform>(
      data::transform_options(data, data::Split::kVal, o.in_chans, o.img_h, o.img_w));
  data::LoaderOptions lo = data::loader_options(data, data::Split::kVal);
  lo.batch_size = 256;
  return std::make_unique<data::Loader>(source, transform, lo);
}

// The image path of a sample description ("list.txt:3: a/b.jpg" -> "a/b.jpg").
std::string sample_path(const data::Loader& loader, int64_t index) {
  std::string d = loader.describe(index);
  const auto colon = d.rfind(": ");
  return colon == std::string::npos ? d : d.substr(colon + 2);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

NamedMetrics run_eval(const InferenceOptions& options, const EvalRequest& request, const torch::Device& device) {
  data::Splits splits(options.data.source);
  auto loaded = load_vit(options.model, splits, request.checkpoint, device, /*with_head=*/true, request.non_strict);
  auto loader = ordered_loader(options.data, splits.get(request.split), loaded.model);
  const auto m = eval::evaluate([&](const torch::Tensor& x) { return loaded.model->forward(x); }, *loader, device,
                                loaded.model->options().num_classes);
  if (!request.output_dir.empty()) {
    fs::create_directories(request.output_dir);
    const std::string json = eval::metrics_json(m, loaded.class_names);
    core::write_file_atomic(request.output_dir + "/metrics.json", [&](std::ostream& out) { out << json << "\n"; });
    eval::write_confusion_csv(request.output_dir + "/confusion.csv", m.confusion, loaded.class_names);
    eval::write_confusion_png(request.output_dir + "/confusion.png", m.confusion, loaded.class_names);
  }
  return {m, loaded.class_names};
}

InferenceCount run_predict(const InferenceOptions& options, const PredictRequest& request, const torch::Device& device) {
  MAE_CHECK_USAGE(request.top_k > 0, "--top-k must be positive");
  data::Splits splits(options.data.source);
  auto loaded = load_vit(options.model, splits, request.checkpoint, device, /*with_head=*/true);
  auto loader = ordered_loader(options.data, splits.get(data::Split::kVal), loaded.model);
  const int64_t k = std::min(request.top_k, loaded.model->options().num_classes);
  const bool csv = request.format == PredictFormat::kCsv;
  std::ostringstream out;
  if (csv) {
    out << "path";
    for (int64_t r = 1; r <= k; ++r) out << ",class" << r << ",prob" << r;
    out << ",error\n";
  }
  torch::NoGradGuard no_grad;
  data::Batch batch;
  InferenceCount count;
  while (loader->next(&batch)) {
    const auto probs = torch::softmax(loaded.model->forward(batch.images.to(device)).to(torch::kFloat32), 1).cpu();
    auto [p, c] = probs.topk(k, 1);
    for (int64_t row = 0; row < probs.size(0); ++row) {
      const int64_t index = batch.indices[row].item<int64_t>();
      const std::string path = sample_path(*loader, index);
      // An unreadable image gets a row that says so, never another image's prediction.
      if (batch.readable.defined() && !batch.readable[row].item<bool>()) {
        const std::string error = "unreadable: " + loader->unreadable_samples().at(index);
        count.unreadable.push_back(path);
        if (csv) {
          out << csv_field(path) << std::string(static_cast<size_t>(2 * k), ',') << "," << csv_field(error) << "\n";
        } else {
          out << nlohmann::json{{"path", path}, {"error", error}}.dump() << "\n";
        }
        continue;
      }
      ++count.done;
      if (csv) {
        out << csv_field(path);
        for (int64_t r = 0; r < k; ++r) out << "," << csv_field(loaded.class_names[c[row][r].item<int64_t>()]) << "," << p[row][r].item<float>();
        out << ",\n";
      } else {
        nlohmann::json j = {{"path", path}, {"top", nlohmann::json::array()}};
        for (int64_t r = 0; r < k; ++r) {
          j["top"].push_back({{"class", loaded.class_names[c[row][r].item<int64_t>()]},
                              {"index", c[row][r].item<int64_t>()}, {"prob", p[row][r].item<float>()}});
        }
        out << j.dump() << "\n";
      }
    }
  }
  if (request.output.empty() || request.output == "-") {
    std::cout << out.str();
  } else {
    core::create_parent_folder(request.output);
    core::write_file_atomic(request.output, [&](std::ostream& file) { file << out.str(); });
  }
  return count;
}

NamedMetrics run_knn(const InferenceOptions& options, const std::string& checkpoint, const torch::Device& device) {
  auto model = options.model;
  model.global_pool = options.knn.pool == Pool::kMean;
  data::Splits splits(options.data.source);
  auto loaded = load_vit(model, splits, checkpoint, device, /*with_head=*/false);
  const auto& o = loaded.model->options();
  return {knn_accuracy([&](const torch::Tensor& x) { return loaded.model->forward(x); }, options.knn, options.data, splits, o.in_chans,
                       o.img_h, o.img_w, device),
          splits.class_names(data::Split::kTrain)};
}

InferenceCount run_embed(const InferenceOptions& options, const EmbedRequest& request, const torch::Device& device) {
  const Pool pool = request.pool.value_or(options.knn.pool);
  MAE_CHECK_USAGE(!request.output.empty(), "--output is required (.safetensors or .npy)");
  auto model = options.model;
  model.global_pool = pool == Pool::kMean;
  data::Splits splits(options.data.source);
  auto loaded = load_vit(model, splits, request.checkpoint, device, /*with_head=*/false);
  auto loader = ordered_loader(options.data, splits.get(request.split), loaded.model);
  const auto f = eval::extract_features([&](const torch::Tensor& x) { return loaded.model->forward(x); }, *loader, device);
  core::create_parent_folder(request.output);
  const bool npy = request.output.size() > 4 && request.output.compare(request.output.size() - 4, 4, ".npy") == 0;
  if (npy) {
    io::write_npy(request.output, f.features);
  } else {
    io::write_safetensors(request.output, {{"features", f.features}, {"indices", f.indices}},
                          {{"pool", core::choice_name(kPoolNames, pool)}, {"checkpoint", request.checkpoint}});
  }
  std::string paths;
  for (int64_t i = 0; i < f.indices.size(0); ++i) paths += sample_path(*loader, f.indices[i].item<int64_t>()) + "\n";
  core::write_file_atomic(request.output + ".paths.txt", [&](std::ostream& out) { out << paths; });
  // Unreadable images have no vector (extract_features leaves them out): they are listed apart.
  InferenceCount count;
  count.done = f.features.size(0);
  for (const auto& [index, reason] : loader->unreadable_samples()) count.unreadable.push_back(sample_path(*loader, index));
  const std::string unreadable_list = request.output + ".unreadable.txt";
  if (count.unreadable.empty()) {
    fs::remove(unreadable_list);
  } else {
    core::write_file_atomic(unreadable_list, [&](std::ostream& out) {
      for (const auto& path : count.unreadable) out << path << "\n";
    });
  }
  return count;
}

}  // namespace mae::tasks
