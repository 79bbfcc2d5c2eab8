// k-NN accuracy of an encoder's features (eval/knn.h) on the configured data: the train split (up to
// train_samples, evenly spaced) is the memory bank, the val split (up to val_samples) the queries,
// both through the evaluation transform. Used by `mae knn` and, every knn.every epochs, by
// `mae pretrain`, so representation quality is visible without fine-tuning.
#pragma once

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/data/factory.h"
#include "mae/eval/classification.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::tasks {

// An encoder's feature: the cls token after the final norm, or the mean of the patch tokens.
enum class Pool { kCls, kMean };
inline constexpr core::Choice<Pool> kPoolNames[] = {{Pool::kCls, "cls"}, {Pool::kMean, "mean"}};

struct KnnOptions {
  int64_t every = 0;             // pretraining: every N epochs (0: off; needs labelled data)
  int64_t k = 20;                // neighbours that vote
  double temperature = 0.07;     // vote weight exp(cosine similarity / temperature)
  int64_t train_samples = 10000; // memory bank size, evenly spaced (0: all)
  int64_t val_samples = 0;       // queries, evenly spaced (0: all)
  Pool pool = Pool::kCls;
  void validate() const;
};

// `features` maps a batch [N, C, H, W] on `device` to [N, D]. The metrics' count is the queries
// (val images read); `bank_size`, when given, receives the train images read.
// The bank: the labelled train split of `splits`; the queries: its val split.
eval::ClassificationMetrics knn_accuracy(const eval::ForwardFn& features, const KnnOptions& knn, const data::DataOptions& data,
                                         data::Splits& splits, int64_t in_chans, int64_t img_h, int64_t img_w,
                                         const torch::Device& device, int64_t* bank_size = nullptr);

// A ViT without head holding a copy of the MAE's encoder (cls token after norm, or mean pooling
// with a fresh, identity fc_norm), for features.
models::VisionTransformer encoder_as_vit(models::MaskedAutoencoderViT& mae, bool global_pool);
// Refreshes `vit`'s weights from the MAE's encoder.
void copy_encoder(models::MaskedAutoencoderViT& mae, models::VisionTransformer& vit);

}  // namespace mae::tasks
