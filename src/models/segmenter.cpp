#include "mae/models/segmenter.h"

#include "mae/core/error.h"

namespace mae::models {

VisionTransformerOptions SegmenterOptions::default_encoder() {
  VisionTransformerOptions o;
  o.img_h = o.img_w = 512;
  o.num_classes = 0;
  o.drop_path_rate = 0.1;
  return o;
}

std::vector<int64_t> SegmenterOptions::resolved_out_indices() const {
  return out_indices.empty() ? default_out_indices(encoder.depth) : out_indices;
}

void SegmenterOptions::validate() const {
  encoder.validate();
  MAE_CHECK_USAGE(num_classes > 0, "model.num_classes must be positive, got ", num_classes);
  MAE_CHECK_USAGE(channels > 0 && aux_channels > 0, "model.channels and model.aux_channels must be positive, got ", channels,
                  " and ", aux_channels);
  MAE_CHECK_USAGE(aux_weight >= 0.0, "model.aux_weight must be >= 0, got ", aux_weight);
  MAE_CHECK_USAGE(dropout >= 0.0 && dropout < 1.0, "dropout must be in [0, 1), got ", dropout);
  const auto indices = resolved_out_indices();
  check_out_indices(indices, encoder.depth);
  MAE_CHECK_USAGE(head != SegHead::kUPerNet || indices.size() == 4, "model.head=upernet takes 4 model.out_indices, got ",
                  indices.size());
}

SegmenterImpl::SegmenterImpl(const SegmenterOptions& o) : options_(o) {
  o.validate();
  const int64_t dim = o.encoder.embed_dim;
  backbone = register_module("backbone", ViTBackbone(o.encoder, o.resolved_out_indices()));
  if (o.head == SegHead::kLinear) {
    linear_head = register_module("decode_head", LinearSegHead(dim, o.num_classes));
    return;
  }
  neck = register_module("neck", Feature2Pyramid(dim));
  UPerHeadOptions uper;
  uper.in_channels = dim, uper.levels = 4, uper.channels = o.channels, uper.num_classes = o.num_classes;
  uper.dropout = o.dropout;
  decode_head = register_module("decode_head", UPerHead(uper));
  if (o.aux_weight > 0.0) {
    auxiliary_head = register_module("auxiliary_head", FCNHead(FCNHeadOptions{dim, o.aux_channels, o.num_classes, o.dropout}));
  }
}

SegmentationLogits SegmenterImpl::forward(const torch::Tensor& imgs) {
  auto maps = backbone->forward(imgs);  // 4 x [N, D, gh, gw]
  if (linear_head) return {linear_head->forward(maps.back()), {}};
  auto levels = neck->forward(maps);  // strides p/4, p/2, p, 2p
  SegmentationLogits out{decode_head->forward(levels), {}};
  if (is_training() && auxiliary_head) out.aux = auxiliary_head->forward(levels[2]);
  return out;
}

torch::Tensor segmentation_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t ignore_index,
                                         bool avg_non_ignore) {
  MAE_CHECK(logits.dim() == 4, "segmentation logits must be [N, K, h, w], got ", logits.sizes());
  MAE_CHECK(labels.dim() == 3 && labels.size(0) == logits.size(0) && labels.scalar_type() == torch::kLong,
            "segmentation labels must be int64 [N, H, W] with N = ", logits.size(0), ", got ", labels.scalar_type(), " ",
            labels.sizes());
  auto upsampled = resize_bilinear(logits, labels.size(1), labels.size(2));  // [N, K, H, W]
  namespace F = torch::nn::functional;
  auto per_pixel = F::cross_entropy(upsampled, labels,
                                    F::CrossEntropyFuncOptions().ignore_index(ignore_index).reduction(torch::kNone));
  if (!avg_non_ignore) return per_pixel.mean();  // ignored pixels count as 0
  // mmseg divides by (count + float32 eps); the exact mean differs by under 1e-7 / count.
  auto labelled = labels.ne(ignore_index).sum().clamp_min(1).to(per_pixel.scalar_type());
  return per_pixel.sum() / labelled;
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& aux, const torch::Tensor& labels,
                                int64_t ignore_index, double aux_weight, bool avg_non_ignore) {
  auto loss = segmentation_cross_entropy(logits, labels, ignore_index, avg_non_ignore);
  if (aux.defined() && aux_weight != 0.0) {
    loss = loss + aux_weight * segmentation_cross_entropy(aux, labels, ignore_index, avg_non_ignore);
  }
  return loss;
}

}  // namespace mae::models
