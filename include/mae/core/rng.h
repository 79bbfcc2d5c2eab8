// Counter-based random streams: values that depend only on (seed, stream ids), never on thread
// count, batch size, accumulation or world size. A resumed or re-sharded run draws the same ones.
#pragma once

#include <cstdint>
#include <initializer_list>

#include <torch/torch.h>

namespace mae::core {

// SplitMix64 finaliser: a well-mixed 64-bit value from any 64-bit input.
uint64_t splitmix64(uint64_t x);

// One seed from a base seed and any number of ids (epoch, sample index, purpose tag, ...).
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> ids);

// [N, length] float32 uniform in [0, 1): row i depends only on (stream_seed, indices[i]).
// indices: [N] int64 (dataset sample indices).
torch::Tensor per_sample_uniform(const torch::Tensor& indices, uint64_t stream_seed, int64_t length);

}  // namespace mae::core
