// Weighted k-NN classification on frozen features, as DINO evaluates representations: features
// L2-normalised, cosine similarity to every training feature, the k nearest vote for their class
// with weight exp(similarity / temperature); the class scores rank the predictions.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "mae/data/loader/loader.h"
#include "mae/eval/classification.h"

namespace mae::eval {

struct Features {
  torch::Tensor features;  // [N, D] float32 on the CPU
  torch::Tensor labels;    // [N] int64
  torch::Tensor indices;   // [N] dataset indices
};

// Runs `forward` (no grad) over one epoch of the loader and gathers features, labels, indices.
Features extract_features(const ForwardFn& forward, data::Loader& loader, const torch::Device& device);

struct KnnOptions {
  int64_t k = 20;
  double temperature = 0.07;
  int64_t chunk = 1024;  // test rows per similarity block
};

// Class scores [M, num_classes] for the test features.
torch::Tensor knn_scores(const Features& train, const torch::Tensor& test_features, int64_t num_classes,
                         const KnnOptions& options = {});

// knn_scores ranked against the test labels.
ClassificationMetrics knn_classify(const Features& train, const Features& test, int64_t num_classes,
                                   const KnnOptions& options = {});

}  // namespace mae::eval
