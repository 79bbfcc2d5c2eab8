// Classification metrics: top-1 / top-k accuracy (k = min(5, classes)), mean cross entropy,
// per-class accuracy and the confusion matrix, accumulated batch by batch; and writers for the
// confusion matrix as CSV and PNG.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/loader/loader.h"

namespace mae::eval {

struct ClassificationMetrics {
  int64_t count = 0, num_classes = 0, top_k = 5;  // top_k = min(5, num_classes)
  double top1 = 0, topk = 0;                      // per cent
  double loss = 0;                                // mean cross entropy (NaN for scores that are not logits)
  torch::Tensor confusion;                        // [K, K] int64: rows true class, columns predicted
  std::vector<double> per_class_accuracy() const;  // per cent; NaN for a class without samples
};

class ClassificationMeter {
 public:
  explicit ClassificationMeter(int64_t num_classes);
  // scores: [N, K] logits (or any scores where larger is better); labels: [N] in [0, K).
  // with_loss false: scores are not logits (k-NN votes); the loss stays NaN.
  void add(const torch::Tensor& scores, const torch::Tensor& labels, bool with_loss = true);
  ClassificationMetrics result() const;
  // In a distributed job: sums every rank's counts, so each rank holds the whole set's metrics
  // (exact when the ranks evaluated disjoint shards). A no-op in a single process.
  void all_reduce();

 private:
  int64_t num_classes_, count_ = 0, correct1_ = 0, correctk_ = 0;
  double loss_sum_ = 0;
  bool with_loss_ = true;
  torch::Tensor confusion_;
};

using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;

// Runs `forward` (in no-grad mode) over every batch of the loader's current epoch; in a distributed
// job, over this rank's shard, then reduced over the ranks (every rank must call it).
ClassificationMetrics evaluate(const ForwardFn& forward, data::Loader& loader, const torch::Device& device,
                               int64_t num_classes);

// "true\\predicted,name0,name1,..." then one row per true class.
void write_confusion_csv(const std::string& path, const torch::Tensor& confusion, const std::vector<std::string>& names);
// A K x K heat map (row-normalised, white = 0, dark blue = 1) with a title, the class index over
// each column, "index name" before each row and, up to 30 classes, the row percentage in each cell.
void write_confusion_png(const std::string& path, const torch::Tensor& confusion, const std::vector<std::string>& names);
// {"count", "top1", "top5" (named top<k>), "loss", "per_class": {name: acc}} as JSON text.
std::string metrics_json(const ClassificationMetrics& metrics, const std::vector<std::string>& names);

}  // namespace mae::eval
