#include "mae/eval/knn.h"

#include "mae/core/error.h"

namespace mae::eval {

Features extract_features(const ForwardFn& forward, data::Loader& loader, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> features, labels, indices;
  data::Batch batch;
  while (loader.next(&batch)) {
    batch = data::readable_rows(batch);
    if (batch.indices.numel() == 0) continue;
    features.push_back(forward(batch.images.to(device)).to(torch::kCPU, torch::kFloat32));
    labels.push_back(batch.labels.clone());
    indices.push_back(batch.indices.clone());
  }
  MAE_CHECK_USAGE(!features.empty(), "no images to extract features from; check the data split");
  return {torch::cat(features), torch::cat(labels), torch::cat(indices)};
}

torch::Tensor knn_scores(const Features& train, const torch::Tensor& test_features, int64_t num_classes,
                         const KnnOptions& o) {
  MAE_CHECK_USAGE(o.k > 0 && o.temperature > 0, "k-NN needs k > 0 and temperature > 0");
  MAE_CHECK_USAGE(train.labels.numel() > 0 && train.labels.min().item<int64_t>() >= 0, "k-NN needs labelled training features");
  const auto bank = torch::nn::functional::normalize(train.features, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto queries = torch::nn::functional::normalize(test_features, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const int64_t k = std::min<int64_t>(o.k, bank.size(0));
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < queries.size(0); start += o.chunk) {
    const auto q = queries.narrow(0, start, std::min(o.chunk, queries.size(0) - start));
    auto [similarity, neighbours] = q.mm(bank.t()).topk(k, 1);               // [B, k]
    const auto weights = (similarity / o.temperature).exp();                  // [B, k]
    const auto votes = train.labels.index_select(0, neighbours.reshape(-1)).view_as(neighbours);
    out.push_back(torch::zeros({q.size(0), num_classes}, torch::kFloat32).scatter_add_(1, votes, weights));
  }
  return torch::cat(out);
}

ClassificationMetrics knn_classify(const Features& train, const Features& test, int64_t num_classes, const KnnOptions& o) {
  ClassificationMeter meter(num_classes);
  meter.add(knn_scores(train, test.features, num_classes, o), test.labels, /*with_loss=*/false);
  return meter.result();
}

}  // namespace mae::eval
