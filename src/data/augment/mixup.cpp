#include "mae/data/augment/mixup.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mae/core/error.h"
#include "mae/data/augment/sample_rng.h"

// Dimension letters: B batch, C channels, H, W image size, K classes.
namespace mae::data {
namespace {

// Marsaglia-Tsang; shape < 1 through Gamma(a + 1) * U^(1/a).
double sample_gamma(double shape, SampleRng& rng) {
  if (shape < 1.0) return sample_gamma(shape + 1.0, rng) * std::pow(1.0 - rng.uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = 0, v = 0;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = 1.0 - rng.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double sample_beta(double alpha, SampleRng& rng) {
  const double x = sample_gamma(alpha, rng), y = sample_gamma(alpha, rng);
  return x + y > 0 ? x / (x + y) : 0.5;  // both underflowed: only possible for tiny alpha
}

struct Box {
  int64_t yl = 0, yh = 0, xl = 0, xh = 0;
};

// timm's cutmix_bbox_and_lam for an H x W image: a box of side sqrt(1 - lam) centred uniformly and
// clipped (or sides from cutmix_minmax), lam recomputed from the clipped area when asked.
std::pair<Box, double> cutmix_box(int64_t H, int64_t W, double lam, const MixupOptions& o, SampleRng& rng) {
  Box b;
  if (!o.cutmix_minmax.empty()) {
    const auto lo_h = static_cast<int64_t>(H * o.cutmix_minmax[0]), hi_h = static_cast<int64_t>(H * o.cutmix_minmax[1]);
    const auto lo_w = static_cast<int64_t>(W * o.cutmix_minmax[0]), hi_w = static_cast<int64_t>(W * o.cutmix_minmax[1]);
    MAE_CHECK_USAGE(lo_h < hi_h && lo_w < hi_w, "aug.cutmix_minmax [", o.cutmix_minmax[0], ", ", o.cutmix_minmax[1],
                    "] leaves no box size to draw on ", H, "x", W, " images; widen the range");
    const int64_t cut_h = rng.randint(lo_h, hi_h), cut_w = rng.randint(lo_w, hi_w);
    b.yl = rng.randint(0, H - cut_h);
    b.xl = rng.randint(0, W - cut_w);
    b.yh = b.yl + cut_h;
    b.xh = b.xl + cut_w;
  } else {
    const double ratio = std::sqrt(1.0 - lam);
    const auto cut_h = static_cast<int64_t>(static_cast<double>(H) * ratio);
    const auto cut_w = static_cast<int64_t>(static_cast<double>(W) * ratio);
    const int64_t cy = rng.randint(0, H), cx = rng.randint(0, W);
    b.yl = std::clamp<int64_t>(cy - cut_h / 2, 0, H);
    b.yh = std::clamp<int64_t>(cy + cut_h / 2, 0, H);
    b.xl = std::clamp<int64_t>(cx - cut_w / 2, 0, W);
    b.xh = std::clamp<int64_t>(cx + cut_w / 2, 0, W);
  }
  if (o.correct_lam || !o.cutmix_minmax.empty()) {
    lam = 1.0 - static_cast<double>((b.yh - b.yl) * (b.xh - b.xl)) / static_cast<double>(H * W);
  }
  return {b, lam};
}

torch::Tensor region(const torch::Tensor& image, const Box& b) {  // [..., H, W] -> the box
  return image.slice(-2, b.yl, b.yh).slice(-1, b.xl, b.xh);
}

// timm's _params_per_batch: (lam, use_cutmix).
std::pair<double, bool> params_per_batch(const MixupOptions& o, SampleRng& rng) {
  if (!(rng.uniform() < o.prob)) return {1.0, false};
  if (o.mixup_alpha > 0 && o.cutmix_alpha > 0) {
    const bool cut = rng.uniform() < o.switch_prob;
    return {sample_beta(cut ? o.cutmix_alpha : o.mixup_alpha, rng), cut};
  }
  if (o.mixup_alpha > 0) return {sample_beta(o.mixup_alpha, rng), false};
  return {sample_beta(o.cutmix_alpha, rng), true};
}

// timm's _params_per_elem: n lams (float32, 1 = unmixed) and cutmix flags, drawn array by array.
std::pair<std::vector<float>, std::vector<bool>> params_per_elem(const MixupOptions& o, int64_t n, SampleRng& rng) {
  std::vector<bool> cut(static_cast<size_t>(n), false);
  std::vector<double> mix(static_cast<size_t>(n));
  if (o.mixup_alpha > 0 && o.cutmix_alpha > 0) {
    for (int64_t i = 0; i < n; ++i) cut[i] = rng.uniform() < o.switch_prob;
    std::vector<double> from_cutmix(mix.size()), from_mixup(mix.size());
    for (auto& v : from_cutmix) v = sample_beta(o.cutmix_alpha, rng);
    for (auto& v : from_mixup) v = sample_beta(o.mixup_alpha, rng);
    for (int64_t i = 0; i < n; ++i) mix[i] = cut[i] ? from_cutmix[i] : from_mixup[i];
  } else if (o.mixup_alpha > 0) {
    for (auto& v : mix) v = sample_beta(o.mixup_alpha, rng);
  } else {
    std::fill(cut.begin(), cut.end(), true);
    for (auto& v : mix) v = sample_beta(o.cutmix_alpha, rng);
  }
  std::vector<float> lam(static_cast<size_t>(n), 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    if (rng.uniform() < o.prob) lam[i] = static_cast<float>(mix[i]);
  }
  return {lam, cut};
}

// images[i] mixed with original[j] (j = B - 1 - i); returns the lam the targets get.
float mix_one(torch::Tensor& images, const torch::Tensor& original, int64_t i, int64_t j, float lam, bool cut,
              const MixupOptions& o, SampleRng& rng, Box* box_out) {
  if (cut) {
    const auto [box, corrected] = cutmix_box(images.size(2), images.size(3), lam, o, rng);
    region(images[i], box).copy_(region(original[j], box));
    *box_out = box;
    return static_cast<float>(corrected);
  }
  images[i].copy_(images[i] * lam + original[j] * (1 - lam));
  return lam;
}

}  // namespace

Mixup::Mixup(MixupOptions options) : options_(std::move(options)) {
  auto& o = options_;
  MAE_CHECK_USAGE(o.mixup_alpha >= 0 && o.cutmix_alpha >= 0, "mixup / cutmix alpha (", o.mixup_alpha, ", ",
                  o.cutmix_alpha, ") must be >= 0 (0: off)");
  if (!o.cutmix_minmax.empty()) {
    MAE_CHECK_USAGE(o.cutmix_minmax.size() == 2 && 0 <= o.cutmix_minmax[0] && o.cutmix_minmax[0] < o.cutmix_minmax[1] &&
                        o.cutmix_minmax[1] <= 1,
                    "aug.cutmix_minmax needs two fractions 0 <= min < max <= 1 (e.g. 0.2,0.8)");
    o.cutmix_alpha = 1.0;  // as timm: minmax boxes ignore the alpha
  }
  MAE_CHECK_USAGE(0 <= o.prob && o.prob <= 1, "aug.mixup_prob ", o.prob, " is a probability; use 0..1");
  MAE_CHECK_USAGE(0 <= o.switch_prob && o.switch_prob <= 1, "aug.mixup_switch_prob ", o.switch_prob,
                  " is a probability; use 0..1");
  MAE_CHECK_USAGE(0 <= o.label_smoothing && o.label_smoothing <= 1, "aug.smoothing ", o.label_smoothing,
                  " must lie in 0..1");
  MAE_CHECK_USAGE(o.num_classes > 0, "mixup needs the number of classes (got ", o.num_classes,
                  "); the data must be labelled, or set data.num_classes");
}

std::pair<torch::Tensor, torch::Tensor> Mixup::apply(torch::Tensor images, const torch::Tensor& labels,
                                                     uint64_t seed) const {
  const auto& o = options_;
  MAE_CHECK(images.defined() && images.dim() == 4 && images.is_floating_point(),
            "Mixup expects [B, C, H, W] floating-point images, got ",
            images.defined() ? images.sizes() : c10::IntArrayRef{});
  const int64_t B = images.size(0);
  MAE_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == B && !labels.is_floating_point(),
            "Mixup expects [", B, "] integer labels, got ", labels.defined() ? labels.sizes() : c10::IntArrayRef{});
  MAE_CHECK_USAGE(B % 2 == 0, "mixup / cutmix pair sample i with sample B-1-i and need an even batch, got ", B,
                  "; use an even train.batch_size");
  if (B > 0) {
    const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
    MAE_CHECK(lo >= 0 && hi < o.num_classes, "Mixup: labels span ", lo, "..", hi, " but there are ", o.num_classes,
              " classes (0..", o.num_classes - 1, ")");
  }
  const auto target_labels = labels.to(images.device(), torch::kLong);
  const auto one_hot = smoothed_one_hot(target_labels, o.num_classes, o.label_smoothing);
  if (!o.enabled() || B == 0) return {images, one_hot};

  torch::NoGradGuard no_grad;
  SampleRng rng(seed);
  const auto flipped_targets = one_hot.flip({0});
  if (o.mode == MixupMode::kBatch) {
    auto [lam, cut] = params_per_batch(o, rng);
    if (lam == 1.0) return {images, one_hot};
    if (cut) {
      const auto [box, corrected] = cutmix_box(images.size(2), images.size(3), lam, o, rng);
      region(images, box).copy_(region(images, box).flip({0}));
      lam = corrected;
    } else {
      const auto flipped = images.flip({0}).mul_(1.0 - lam);
      images.mul_(lam).add_(flipped);
    }
    return {images, one_hot * lam + flipped_targets * (1.0 - lam)};
  }

  const bool pairs = o.mode == MixupMode::kPair;
  const int64_t n = pairs ? B / 2 : B;
  auto [lam, cut] = params_per_elem(o, n, rng);
  const auto original = images.clone();
  for (int64_t i = 0; i < n; ++i) {
    if (lam[i] == 1.0f) continue;
    const int64_t j = B - 1 - i;
    Box box;
    const float mixed = mix_one(images, original, i, j, lam[i], cut[i], o, rng, &box);
    if (pairs) {  // the partner gets the same box or weight the other way round
      if (cut[i]) {
        region(images[j], box).copy_(region(original[i], box));
      } else {
        images[j].copy_(images[j] * lam[i] + original[i] * (1 - lam[i]));
      }
    }
    lam[i] = mixed;
  }
  if (pairs) {  // sample B-1-i shares pair i's lam
    const std::vector<float> first(lam.begin(), lam.end());
    lam.insert(lam.end(), first.rbegin(), first.rend());
  }
  const auto lam_column = torch::tensor(lam, torch::kFloat32).to(images.device()).unsqueeze(1);
  return {images, one_hot * lam_column + flipped_targets * (1 - lam_column)};
}

torch::Tensor smoothed_one_hot(const torch::Tensor& labels, int64_t num_classes, double smoothing) {
  MAE_CHECK(labels.dim() == 1 && num_classes > 0, "smoothed_one_hot expects [B] labels and num_classes > 0, got ",
            labels.sizes(), " and ", num_classes);
  const double off = smoothing / static_cast<double>(num_classes);
  const double on = 1.0 - smoothing + off;
  return torch::full({labels.size(0), num_classes}, off, torch::dtype(torch::kFloat32).device(labels.device()))
      .scatter_(1, labels.to(torch::kLong).view({-1, 1}), on);
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  MAE_CHECK(logits.dim() == 2 && targets.sizes() == logits.sizes(), "soft_target_cross_entropy expects [B, K] logits ",
            "and targets of the same shape, got ", logits.sizes(), " and ", targets.sizes());
  const auto dtype = logits.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto log_probs = torch::log_softmax(logits, -1, dtype);
  return (-targets.to(dtype) * log_probs).sum(-1).mean();
}

}  // namespace mae::data
