// A small generator for one sample's augmentation draws (SplitMix64 sequence). It is seeded from
// (seed, epoch, dataset index) via core::derive_seed, so a sample's crop and flip never depend on
// the thread that loads it or on the other samples of its batch.
#pragma once

#include <cmath>
#include <cstdint>

#include "mae/core/rng.h"

namespace mae::data {

class SampleRng {
 public:
  explicit SampleRng(uint64_t seed) : state_(seed) {}
  // Stream of one sample in one epoch; `stream` tells apart independent uses (crop, shuffle, ...).
  static SampleRng for_sample(uint64_t seed, int64_t epoch, int64_t index, uint64_t stream = 0) {
    return SampleRng(core::derive_seed(seed, {static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), stream}));
  }

  uint64_t next_u64() {
    const uint64_t r = core::splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ull;
    return r;
  }
  // Uniform in [lo, hi), 53-bit resolution.
  double uniform(double lo = 0.0, double hi = 1.0) {
    return lo + (hi - lo) * (static_cast<double>(next_u64() >> 11) * 0x1.0p-53);
  }
  // Uniform integer in [lo, hi), unbiased (rejection sampling). Requires hi > lo.
  int64_t randint(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi - lo);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r = next_u64();
    while (r >= limit) r = next_u64();
    return lo + static_cast<int64_t>(r % range);
  }
  // Standard normal (Box-Muller from two uniforms; the second value is not kept, so a copy of the
  // generator has no hidden state).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace mae::data
