// timm's Mixup / CutMix with label smoothing (timm/data/mixup.py), as the MAE fine-tuning recipe
// uses it: per batch, with probability `prob`, either mixup (x = lam x + (1 - lam) x.flip(0)) or, with
// probability switch_prob when both are on, cutmix (a box of x.flip(0) pasted into x), lam ~ Beta(a, a).
// Targets are the smoothed one-hot rows mixed the same way: lam y + (1 - lam) y.flip(0). The partner of
// sample i is sample B - 1 - i, so the batch size must be even.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"


namespace mae::data {

// batch: one lam per batch; pair: per pair (i, B-1-i); elem: per sample (timm's Mixup modes).
enum class MixupMode { kBatch, kPair, kElem };
inline constexpr core::Choice<MixupMode> kMixupModeNames[] = {
    {MixupMode::kBatch, "batch"}, {MixupMode::kPair, "pair"}, {MixupMode::kElem, "elem"}};

struct MixupOptions {
  double mixup_alpha = 0.8, cutmix_alpha = 1.0;  // Beta(alpha, alpha); 0: that kind is off
  std::vector<double> cutmix_minmax;             // {min, max} box side fractions (forces cutmix, alpha 1); empty: off
  double prob = 1.0;                             // chance that a batch (or element, pair) is mixed at all
  double switch_prob = 0.5;                      // chance of cutmix instead of mixup when both are on
  MixupMode mode = MixupMode::kBatch;
  double label_smoothing = 0.1;
  int64_t num_classes = 0;
  bool correct_lam = true;                       // lam from the box area once clipped to the image
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0 || !cutmix_minmax.empty(); }
};

class Mixup {
 public:
  explicit Mixup(MixupOptions options);  // validates; throws UsageError
  const MixupOptions& options() const { return options_; }

  // images: [B, C, H, W] floating point (CPU or CUDA), mixed in place and returned; labels: [B] int64
  // class indices (any device). Returns (images, targets [B, num_classes] float32 on images' device).
  // Every random draw comes from `seed` (e.g. core::derive_seed(seed, {epoch, step, rank})), so a step is
  // reproducible. Without enabled() the images are unchanged and the targets are the smoothed one-hot rows.
  std::pair<torch::Tensor, torch::Tensor> apply(torch::Tensor images, const torch::Tensor& labels, uint64_t seed) const;

 private:
  MixupOptions options_;
};

// timm's one_hot with smoothing: [B] int64 -> [B, num_classes] float32 on labels' device, holding
// smoothing / num_classes everywhere and 1 - smoothing + smoothing / num_classes at the label.
torch::Tensor smoothed_one_hot(const torch::Tensor& labels, int64_t num_classes, double smoothing);

// timm's SoftTargetCrossEntropy: mean over the batch of sum_k -targets[b, k] * log_softmax(logits)[b, k].
// logits, targets: [B, K]. Half / bfloat16 logits are computed in float32.
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace mae::data
