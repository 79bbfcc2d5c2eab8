// A small labelled image set in the IDX format (MNIST / Fashion-MNIST), written by tests:
// class k draws a bright bar whose orientation and position depend on k, plus noise, so a model
// can learn something in a few steps. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <fstream>
#include <random>
#include <string>

namespace mae::testing {

inline void write_be32(std::ofstream& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  out.write(b, 4);
}

// Writes <dir>/images.idx and <dir>/labels.idx: n images of size x size, `classes` classes.
inline void write_synthetic_idx(const std::string& dir, int n, int size, int classes, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::ofstream images(dir + "/images.idx", std::ios::binary), labels(dir + "/labels.idx", std::ios::binary);
  write_be32(images, 0x00000803);
  write_be32(images, static_cast<uint32_t>(n));
  write_be32(images, static_cast<uint32_t>(size));
  write_be32(images, static_cast<uint32_t>(size));
  write_be32(labels, 0x00000801);
  write_be32(labels, static_cast<uint32_t>(n));
  std::uniform_int_distribution<int> noise(0, 40), offset(-1, 1);
  for (int i = 0; i < n; ++i) {
    const int k = i % classes;
    const bool vertical = k % 2 == 0;
    const int position = (k * size / classes + offset(rng) + size) % size;
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const int d = vertical ? std::abs(x - position) : std::abs(y - position);
        const int v = (d <= 1 ? 220 : 20) + noise(rng);
        images.put(static_cast<char>(std::min(v, 255)));
      }
    }
    labels.put(static_cast<char>(k));
  }
}

}  // namespace mae::testing
