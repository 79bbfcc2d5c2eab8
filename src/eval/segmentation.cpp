#include "mae/eval/segmentation.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/distributed/process_group.h"

namespace mae::eval {
namespace F = torch::nn::functional;

SegmentationMeter::SegmentationMeter(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes), ignore_index_(ignore_index), confusion_(torch::zeros({num_classes, num_classes}, torch::kInt64)) {
  MAE_CHECK(num_classes > 0, "SegmentationMeter needs at least one class, got ", num_classes);
}

void SegmentationMeter::add(const torch::Tensor& predicted, const torch::Tensor& labels) {
  MAE_CHECK(predicted.sizes() == labels.sizes(), "segmentation metrics: predictions ", predicted.sizes(), " and labels ",
            labels.sizes(), " differ in shape");
  const auto truth = labels.to(torch::kCPU, torch::kInt64).reshape({-1});
  const auto guess = predicted.to(torch::kCPU, torch::kInt64).reshape({-1});
  const auto scored = truth.ne(ignore_index_);
  const auto t = truth.masked_select(scored), p = guess.masked_select(scored);
  if (t.numel() == 0) return;
  const int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
  MAE_CHECK(lo >= 0 && hi < num_classes_, "a label map holds class ", lo < 0 ? lo : hi, " but the model has ", num_classes_,
            " classes (0..", num_classes_ - 1, ", ", ignore_index_, ": ignored); check data.num_classes and ",
            "data.reduce_zero_label");
  MAE_CHECK(p.min().item<int64_t>() >= 0 && p.max().item<int64_t>() < num_classes_, "a prediction lies outside 0..",
            num_classes_ - 1);
  confusion_.view(-1).index_add_(0, t * num_classes_ + p, torch::ones_like(t));
}

SegmentationMetrics SegmentationMeter::result() const { return segmentation_metrics(confusion_); }

void SegmentationMeter::all_reduce() { distributed::all_reduce_sum(confusion_, "segmentation confusion matrix"); }

SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion) {
  const auto c = confusion.to(torch::kCPU, torch::kFloat64);
  const auto tp = c.diagonal(), labelled = c.sum(1), predicted = c.sum(0);
  const auto uni = labelled + predicted - tp;
  SegmentationMetrics m;
  m.confusion = confusion.to(torch::kCPU, torch::kInt64).clone();
  m.pixels = m.confusion.sum().item<int64_t>();
  const int64_t k = c.size(0);
  double iou_sum = 0, acc_sum = 0;
  int64_t iou_n = 0, acc_n = 0;
  for (int64_t i = 0; i < k; ++i) {
    const double u = uni[i].item<double>(), l = labelled[i].item<double>(), hit = tp[i].item<double>();
    m.iou.push_back(u > 0 ? 100.0 * hit / u : NAN);
    m.acc.push_back(l > 0 ? 100.0 * hit / l : NAN);
    if (u > 0) iou_sum += m.iou.back(), ++iou_n;
    if (l > 0) acc_sum += m.acc.back(), ++acc_n;
  }
  m.miou = iou_n ? iou_sum / iou_n : NAN;
  m.macc = acc_n ? acc_sum / acc_n : NAN;
  m.aacc = m.pixels ? 100.0 * tp.sum().item<double>() / static_cast<double>(m.pixels) : NAN;
  return m;
}

namespace {

std::string class_name(const std::vector<std::string>& names, size_t k) {
  return k < names.size() ? names[k] : std::to_string(k);
}

nlohmann::json number(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace

std::string segmentation_json(const SegmentationMetrics& m, const std::vector<std::string>& names) {
  nlohmann::ordered_json j;
  j["pixels"] = m.pixels;
  j["mIoU"] = number(m.miou);
  j["mAcc"] = number(m.macc);
  j["aAcc"] = number(m.aacc);
  nlohmann::ordered_json per_class = nlohmann::ordered_json::object();
  for (size_t k = 0; k < m.iou.size(); ++k) {
    per_class[class_name(names, k)] = {{"IoU", number(m.iou[k])}, {"Acc", number(m.acc[k])}};
  }
  j["per_class"] = per_class;
  return j.dump(2);
}

void write_segmentation_csv(const std::string& path, const SegmentationMetrics& m, const std::vector<std::string>& names) {
  auto cell = [](double v) { return std::isnan(v) ? std::string() : nlohmann::json(v).dump(); };
  core::write_file_atomic(path, [&](std::ostream& out) {
    out << "class,IoU,Acc\n";
    for (size_t k = 0; k < m.iou.size(); ++k) out << class_name(names, k) << ',' << cell(m.iou[k]) << ',' << cell(m.acc[k]) << '\n';
  });
}

namespace {

torch::Tensor resize_logits(const torch::Tensor& logits, int64_t h, int64_t w) {
  if (logits.size(2) == h && logits.size(3) == w) return logits;
  return F::interpolate(logits, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{h, w})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

}  // namespace

torch::Tensor whole_inference(const SegmentFn& forward, const torch::Tensor& images, int64_t size_divisor) {
  const int64_t h = images.size(2), w = images.size(3);
  const int64_t ph = (h + size_divisor - 1) / size_divisor * size_divisor, pw = (w + size_divisor - 1) / size_divisor * size_divisor;
  const auto padded = ph == h && pw == w ? images : F::pad(images, F::PadFuncOptions({0, pw - w, 0, ph - h}));
  return resize_logits(forward(padded), ph, pw).slice(2, 0, h).slice(3, 0, w);
}

torch::Tensor slide_inference(const SegmentFn& forward, const torch::Tensor& images, int64_t crop_h, int64_t crop_w,
                              int64_t stride_h, int64_t stride_w, int64_t num_classes) {
  MAE_CHECK_USAGE(crop_h > 0 && crop_w > 0 && stride_h > 0 && stride_w > 0, "sliding window: crop ", crop_h, "x", crop_w,
                  " and stride ", stride_h, "x", stride_w, " must be positive");
  MAE_CHECK_USAGE(stride_h <= crop_h && stride_w <= crop_w, "sliding window: stride ", stride_h, "x", stride_w,
                  " is larger than the crop ", crop_h, "x", crop_w, ", so some pixels would get no window; lower seg.stride");
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const int64_t rows = std::max<int64_t>(h - crop_h + stride_h - 1, 0) / stride_h + 1;
  const int64_t cols = std::max<int64_t>(w - crop_w + stride_w - 1, 0) / stride_w + 1;
  auto sum = torch::zeros({n, num_classes, h, w}, images.options());
  auto count = torch::zeros({1, 1, h, w}, images.options());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t y2 = std::min(r * stride_h + crop_h, h), x2 = std::min(c * stride_w + crop_w, w);
      const int64_t y1 = std::max<int64_t>(y2 - crop_h, 0), x1 = std::max<int64_t>(x2 - crop_w, 0);
      auto crop = images.slice(2, y1, y2).slice(3, x1, x2);
      const int64_t ch = y2 - y1, cw = x2 - x1;
      if (ch < crop_h || cw < crop_w) crop = F::pad(crop, F::PadFuncOptions({0, crop_w - cw, 0, crop_h - ch}));
      const auto logits = resize_logits(forward(crop), crop.size(2), crop.size(3)).slice(2, 0, ch).slice(3, 0, cw);
      sum.slice(2, y1, y2).slice(3, x1, x2).add_(logits);
      count.slice(2, y1, y2).slice(3, x1, x2).add_(1);
    }
  }
  return sum / count;
}

torch::Tensor class_palette(int64_t num_classes) {
  // Colours spread by the golden ratio over hue, with three alternating value / saturation levels.
  auto palette = torch::empty({num_classes, 3}, torch::kUInt8);
  auto p = palette.accessor<uint8_t, 2>();
  for (int64_t k = 0; k < num_classes; ++k) {
    const double hue = std::fmod(0.1 + 0.618033988749895 * static_cast<double>(k), 1.0) * 6.0;
    const double s = k % 3 == 1 ? 0.55 : 0.85, v = k % 3 == 2 ? 0.7 : 0.95;
    const int64_t sector = static_cast<int64_t>(hue) % 6;
    const double f = hue - std::floor(hue);
    const double a = v * (1 - s), b = v * (1 - s * f), c = v * (1 - s * (1 - f));
    const double rgb[6][3] = {{v, c, a}, {b, v, a}, {a, v, c}, {a, b, v}, {c, a, v}, {v, a, b}};
    for (int ch = 0; ch < 3; ++ch) p[k][ch] = static_cast<uint8_t>(std::lround(255.0 * rgb[sector][ch]));
  }
  return palette;
}

torch::Tensor colorize(const torch::Tensor& labels, const torch::Tensor& palette, int64_t ignore_index) {
  MAE_CHECK(labels.dim() == 2, "colorize expects an [H, W] label map, got ", labels.sizes());
  const auto l = labels.to(torch::kCPU, torch::kInt64);
  const auto ignored = l.eq(ignore_index);
  const auto index = l.masked_fill(ignored, 0).clamp(0, palette.size(0) - 1);
  auto colours = palette.index_select(0, index.reshape({-1})).reshape({l.size(0), l.size(1), 3});
  return colours.masked_fill(ignored.unsqueeze(2), 0);
}

torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& labels, const torch::Tensor& palette, double alpha,
                      int64_t ignore_index) {
  MAE_CHECK(image.dim() == 3 && image.size(2) == 3 && image.sizes().slice(0, 2) == labels.sizes(),
            "overlay expects an [H, W, 3] image and an [H, W] label map of the same size, got ", image.sizes(), " and ",
            labels.sizes());
  const auto colours = colorize(labels, palette, ignore_index).to(torch::kFloat32);
  const auto base = image.to(torch::kCPU, torch::kFloat32);
  const auto keep = labels.to(torch::kCPU).eq(ignore_index).unsqueeze(2);
  const auto mixed = torch::where(keep, base, base * (1 - alpha) + colours * alpha);
  return mixed.round().clamp(0, 255).to(torch::kUInt8);
}

}  // namespace mae::eval
