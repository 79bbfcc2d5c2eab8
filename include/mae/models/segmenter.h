// Semantic segmentation from an MAE encoder, as the paper's ADE20K transfer with mmsegmentation's
// MAE + UPerNet (configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py): the ViT's maps
// after four blocks, the Feature2Pyramid neck, UPerHead, and an FCN auxiliary head on the stride-p
// level during training. Or, for quick probes, the linear head on the last out block's map.
// State-dict names: backbone.<ViT key>, neck.*, decode_head.*, auxiliary_head.* (mmseg's).
// Differences from mmseg's MAE backbone (BEiT's blocks): no per-block relative position bias
// (zero-initialised there) and no layer scale (gamma_1/2, 1.0 at init in that config), so the two
// agree at initialisation only; pos_embed is resized for other input sizes (mmseg's MAE insists on
// its img_size and infers ADE20K by 512 x 512 sliding windows).
// Legend: N batch, C channels, H x W image, p patch, gh x gw = H/p x W/p, K classes.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/models/decode_heads.h"
#include "mae/models/feature_pyramid.h"
#include "mae/models/vit_backbone.h"

namespace mae::models {

enum class SegHead { kUPerNet, kLinear };
inline constexpr core::Choice<SegHead> kSegHeadNames[] = {{SegHead::kUPerNet, "upernet"}, {SegHead::kLinear, "linear"}};

struct SegmenterOptions {
  // The encoder's sizes and drop_path_rate; num_classes, global_pool and probe_head are unused.
  VisionTransformerOptions encoder = default_encoder();
  int64_t num_classes = 150;  // ADE20K
  SegHead head = SegHead::kUPerNet;
  int64_t channels = 512;      // UPerHead width (mmseg: 768 for ViT-B)
  int64_t aux_channels = 256;  // FCN auxiliary head width
  // Blocks whose output feeds the neck (zero-based); empty: default_out_indices(encoder.depth).
  // UPerNet takes 4; the linear head reads the last.
  std::vector<int64_t> out_indices;
  double aux_weight = 0.4;  // 0: no auxiliary head
  double dropout = 0.1;     // Dropout2d before the UPerNet heads' conv_seg

  // mmseg's ADE20K backbone settings on our default ViT: 512 x 512 input, drop path 0.1.
  static VisionTransformerOptions default_encoder();
  std::vector<int64_t> resolved_out_indices() const;
  // Throws UsageError naming the first invalid field.
  void validate() const;
};

struct SegmentationLogits {
  torch::Tensor logits;  // [N, K, 4gh, 4gw] (UPerNet) or [N, K, gh, gw] (linear)
  torch::Tensor aux;     // [N, K, gh, gw] from the auxiliary head in training mode; else undefined
};

class SegmenterImpl : public torch::nn::Module {
 public:
  explicit SegmenterImpl(const SegmenterOptions& options);

  // imgs: [N, C, H, W], H and W multiples of p (any size: pos_embed is resized).
  SegmentationLogits forward(const torch::Tensor& imgs);

  const SegmenterOptions& options() const { return options_; }

  ViTBackbone backbone{nullptr};
  Feature2Pyramid neck{nullptr};           // UPerNet only
  UPerHead decode_head{nullptr};           // UPerNet
  LinearSegHead linear_head{nullptr};      // linear (registered as "decode_head")
  FCNHead auxiliary_head{nullptr};         // UPerNet with aux_weight > 0

 private:
  SegmenterOptions options_;
};
TORCH_MODULE(Segmenter);

// Pixel cross-entropy as mmseg's CrossEntropyLoss: logits [N, K, h, w] resized bilinearly
// (align_corners=False) to the labels [N, H, W] (int64), pixels labelled ignore_index left out.
// avg_non_ignore: the mean over the labelled pixels (PyTorch's, mmseg's avg_non_ignore=True; 0
// when none is labelled); false: the sum over the number of all pixels (mmseg's default).
torch::Tensor segmentation_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                         int64_t ignore_index = 255, bool avg_non_ignore = true);

// -> [] decode loss + aux_weight * auxiliary loss (the latter only when aux is defined).
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& aux, const torch::Tensor& labels,
                                int64_t ignore_index = 255, double aux_weight = 0.4, bool avg_non_ignore = true);

}  // namespace mae::models
