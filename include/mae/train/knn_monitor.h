// k-NN accuracy of an encoder's features (eval/knn.h) on the configured data: the train split (up to
// knn.train_samples, evenly spaced) is the memory bank, the val split (up to knn.val_samples) the
// queries, both through the evaluation transform. Used by `mae knn` and, every knn.every epochs, by
// `mae pretrain`, so representation quality is visible without fine-tuning.
#pragma once

#include <torch/torch.h>

#include "mae/core/config.h"
#include "mae/eval/classification.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::train {

// knn.every, knn.k, knn.temperature, knn.train_samples, knn.val_samples, knn.pool.
void add_knn_config(core::Config& config);

// `features` maps a batch [N, C, H, W] on `device` to [N, D].
eval::ClassificationMetrics knn_accuracy(const eval::ForwardFn& features, const core::Config& config, int64_t in_chans,
                                         int64_t img_h, int64_t img_w, const torch::Device& device);

// A ViT without head holding a copy of the MAE's encoder (cls token after norm, or mean pooling
// with a fresh, identity fc_norm), for features.
models::VisionTransformer encoder_as_vit(models::MaskedAutoencoderViT& mae, bool global_pool);
// Refreshes `vit`'s weights from the MAE's encoder.
void copy_encoder(models::MaskedAutoencoderViT& mae, models::VisionTransformer& vit);

}  // namespace mae::train
