#include "mae/eval/classification.h"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/distributed/process_group.h"
#include "mae/eval/picture.h"
#include "mae/io/png_writer.h"

namespace mae::eval {

std::vector<double> ClassificationMetrics::per_class_accuracy() const {
  std::vector<double> out;
  if (!confusion.defined()) return out;
  const auto rows = confusion.sum(1);
  for (int64_t c = 0; c < num_classes; ++c) {
    const int64_t n = rows[c].item<int64_t>();
    out.push_back(n > 0 ? 100.0 * confusion[c][c].item<int64_t>() / n : NAN);
  }
  return out;
}

ClassificationMeter::ClassificationMeter(int64_t num_classes)
    : num_classes_(num_classes), confusion_(torch::zeros({num_classes, num_classes}, torch::kInt64)) {
  MAE_CHECK_USAGE(num_classes > 0, "classification needs at least one class, got ", num_classes);
}

void ClassificationMeter::add(const torch::Tensor& scores_in, const torch::Tensor& labels_in, bool with_loss) {
  const auto scores = scores_in.detach().to(torch::kCPU, torch::kFloat32);
  const auto labels = labels_in.to(torch::kCPU, torch::kInt64);
  MAE_CHECK(scores.dim() == 2 && scores.size(1) == num_classes_ && scores.size(0) == labels.size(0), "scores of shape ",
            scores.sizes(), " do not fit ", labels.size(0), " labels of ", num_classes_, " classes");
  if (labels.numel() == 0) return;
  const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
  MAE_CHECK_USAGE(lo >= 0 && hi < num_classes_, "label ", lo < 0 ? lo : hi, " is outside the ", num_classes_,
                  " classes of the model; unlabelled data cannot be evaluated (check data.num_classes and the labels)");
  const int64_t k = std::min<int64_t>(5, num_classes_);
  const auto top = std::get<1>(scores.topk(k, 1));
  const auto hits = top.eq(labels.unsqueeze(1));
  correct1_ += hits.select(1, 0).sum().item<int64_t>();
  correctk_ += hits.any(1).sum().item<int64_t>();
  const auto predicted = top.select(1, 0);
  confusion_.view(-1).index_add_(0, labels * num_classes_ + predicted, torch::ones_like(labels));
  with_loss_ = with_loss_ && with_loss;
  if (with_loss_) loss_sum_ += torch::nn::functional::cross_entropy(scores, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
  count_ += labels.size(0);
}

void ClassificationMeter::all_reduce() {
  auto counts = torch::tensor({static_cast<double>(count_), static_cast<double>(correct1_), static_cast<double>(correctk_),
                               loss_sum_, with_loss_ ? 0.0 : 1.0},
                              torch::kFloat64);
  distributed::all_reduce_sum(counts, "evaluation metrics");
  distributed::all_reduce_sum(confusion_, "evaluation confusion matrix");
  count_ = std::llround(counts[0].item<double>());
  correct1_ = std::llround(counts[1].item<double>());
  correctk_ = std::llround(counts[2].item<double>());
  loss_sum_ = counts[3].item<double>();
  with_loss_ = counts[4].item<double>() == 0;
}

ClassificationMetrics ClassificationMeter::result() const {
  ClassificationMetrics m;
  m.count = count_;
  m.num_classes = num_classes_;
  m.top_k = std::min<int64_t>(5, num_classes_);
  m.top1 = count_ ? 100.0 * correct1_ / count_ : NAN;
  m.topk = count_ ? 100.0 * correctk_ / count_ : NAN;
  m.loss = count_ && with_loss_ ? loss_sum_ / count_ : NAN;
  m.confusion = confusion_.clone();
  return m;
}

ClassificationMetrics evaluate(const ForwardFn& forward, data::Loader& loader, const torch::Device& device,
                               int64_t num_classes) {
  torch::NoGradGuard no_grad;
  ClassificationMeter meter(num_classes);
  data::Batch batch;
  while (loader.next(&batch)) {
    batch = data::readable_rows(batch);
    if (batch.indices.numel() > 0) meter.add(forward(batch.images.to(device)), batch.labels);
  }
  meter.all_reduce();
  MAE_CHECK_USAGE(meter.result().count > 0, "the evaluation split is empty; check data.val_files");
  return meter.result();
}

void write_confusion_csv(const std::string& path, const torch::Tensor& confusion, const std::vector<std::string>& names) {
  const int64_t k = confusion.size(0);
  auto name = [&](int64_t c) { return c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c); };
  const auto counts = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  const auto acc = counts.accessor<int64_t, 2>();
  core::write_file_atomic(path, [&](std::ostream& out) {
    out << "true\\predicted";
    for (int64_t c = 0; c < k; ++c) out << ',' << name(c);
    out << '\n';
    for (int64_t r = 0; r < k; ++r) {
      out << name(r);
      for (int64_t c = 0; c < k; ++c) out << ',' << acc[r][c];
      out << '\n';
    }
  });
}

void write_confusion_png(const std::string& path, const torch::Tensor& confusion, const std::vector<std::string>& names) {
  const int64_t k = confusion.size(0);
  const auto rows = confusion.to(torch::kCPU, torch::kFloat64);
  const auto share = rows / rows.sum(1, true).clamp_min(1);  // [K, K] in [0, 1]
  // Few classes: large cells with the row percentage written in them.
  const bool numbers = k <= 30;
  const int64_t cell = numbers ? 32 : 16, gap = 4;
  auto name = [&](int64_t c) {
    std::string label = std::to_string(c);
    if (c < static_cast<int64_t>(names.size()) && names[c] != label) label.append(" ").append(names[c], 0, 16);
    return label;
  };
  int64_t left = 0;
  for (int64_t c = 0; c < k; ++c) left = std::max(left, text_width(name(c)));
  left += 2 * gap;
  const std::string title = "rows: true class, columns: predicted" + std::string(numbers ? " (% of row)" : "");
  const int64_t top = 2 * (text_height() + gap) + gap;
  const int64_t width = std::max(left + k * cell + gap, text_width(title) + 2 * gap);
  auto picture = torch::full({top + k * cell + gap, width, 3}, 255, torch::kUInt8);
  // White (255,255,255) to dark blue (8,48,107), as matplotlib's Blues.
  const auto white = torch::tensor({255.0, 255.0, 255.0}, torch::kFloat64), blue = torch::tensor({8.0, 48.0, 107.0}, torch::kFloat64);
  const auto rgb = (white + (blue - white) * share.unsqueeze(-1)).round().to(torch::kUInt8);  // [K, K, 3]
  picture.narrow(0, top, k * cell).narrow(1, left, k * cell).copy_(upscale_nearest(rgb, cell));
  draw_text(picture, gap, gap, title);
  const auto percent = (share * 100).round().to(torch::kInt64);
  for (int64_t c = 0; c < k; ++c) {
    const std::string column = std::to_string(c);
    if (text_width(column) <= cell) {
      draw_text(picture, left + c * cell + (cell - text_width(column)) / 2, top - text_height() - gap, column);
    }
    draw_text(picture, gap, top + c * cell + (cell - text_height()) / 2, name(c));
    for (int64_t p = 0; numbers && p < k; ++p) {
      const std::string value = std::to_string(percent[c][p].item<int64_t>());
      const uint8_t ink = share[c][p].item<double>() > 0.5 ? 255 : 0;
      draw_text(picture, left + p * cell + (cell - text_width(value)) / 2, top + c * cell + (cell - text_height()) / 2, value,
                1, ink);
    }
  }
  io::write_png(path, picture, {{"Description", "confusion matrix, rows true class, columns predicted, row-normalised"}});
}

std::string metrics_json(const ClassificationMetrics& m, const std::vector<std::string>& names) {
  nlohmann::json j;
  j["count"] = m.count;
  j["top1"] = m.top1;
  j["top" + std::to_string(m.top_k)] = m.topk;
  if (std::isfinite(m.loss)) j["loss"] = m.loss;
  nlohmann::json per_class = nlohmann::json::object();
  const auto acc = m.per_class_accuracy();
  for (size_t c = 0; c < acc.size(); ++c) {
    const std::string name = c < names.size() ? names[c] : std::to_string(c);
    per_class[name] = std::isfinite(acc[c]) ? nlohmann::json(acc[c]) : nlohmann::json(nullptr);
  }
  j["per_class"] = per_class;
  return j.dump(2);
}

}  // namespace mae::eval
