#include "mae/core/rng.h"

namespace mae::core {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> ids) {
  uint64_t h = splitmix64(seed);
  for (uint64_t id : ids) h = splitmix64(h ^ splitmix64(id + 0x632BE59BD9B4E019ull));
  return h;
}

torch::Tensor per_sample_uniform(const torch::Tensor& indices, uint64_t stream_seed, int64_t length) {
  auto idx = indices.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t n = idx.numel();
  auto out = torch::empty({n, length}, torch::kFloat32);
  const int64_t* ids = idx.data_ptr<int64_t>();
  float* values = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t row = derive_seed(stream_seed, {static_cast<uint64_t>(ids[i])});
    for (int64_t j = 0; j < length; ++j) {
      // Top 24 bits -> exactly representable float in [0, 1).
      values[i * length + j] = static_cast<float>(splitmix64(row + static_cast<uint64_t>(j)) >> 40) * (1.0f / 16777216.0f);
    }
  }
  return out;
}

}  // namespace mae::core
