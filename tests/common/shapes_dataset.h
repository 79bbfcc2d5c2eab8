// A synthetic segmentation set for tests: shapes of three classes (1 disc, 2 square, 3 triangle) on
// textured backgrounds (class 0: stripes of random frequency, angle and colours, plus noise), written
// in the ADE20K layout (images/<split>/N.png, annotations/<split>/N.png) with io::write_png. Seeded.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include <torch/torch.h>

#include "mae/io/png_writer.h"

namespace mae::testing {

inline void write_shapes_split(const std::string& root, const std::string& split, int64_t count, int64_t size, uint64_t seed) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(root) / "images" / split);
  fs::create_directories(fs::path(root) / "annotations" / split);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t n = 0; n < count; ++n) {
    auto image = torch::empty({size, size, 3}, torch::kUInt8);
    auto labels = torch::zeros({size, size, 1}, torch::kUInt8);
    auto px = image.accessor<uint8_t, 3>();
    auto lb = labels.accessor<uint8_t, 3>();
    const double freq = 0.15 + 0.5 * u(rng), angle = 3.14159 * u(rng), phase = 6.28 * u(rng);
    double a[3], b[3];
    for (int c = 0; c < 3; ++c) a[c] = 40 + 170 * u(rng), b[c] = 40 + 170 * u(rng);
    std::normal_distribution<double> noise(0.0, 12.0);
    for (int64_t y = 0; y < size; ++y) {
      for (int64_t x = 0; x < size; ++x) {
        const double t = 0.5 + 0.5 * std::sin(freq * (x * std::cos(angle) + y * std::sin(angle)) + phase);
        for (int c = 0; c < 3; ++c) px[y][x][c] = static_cast<uint8_t>(std::clamp(a[c] * t + b[c] * (1 - t) + noise(rng), 0.0, 255.0));
      }
    }
    const int shapes = 1 + static_cast<int>(rng() % 2);
    for (int s = 0; s < shapes; ++s) {
      const int cls = 1 + static_cast<int>(rng() % 3);
      const double r = size * (0.16 + 0.12 * u(rng)), cx = r + (size - 2 * r) * u(rng), cy = r + (size - 2 * r) * u(rng);
      double colour[3];
      for (int c = 0; c < 3; ++c) colour[c] = 255 * u(rng);
      for (int64_t y = 0; y < size; ++y) {
        for (int64_t x = 0; x < size; ++x) {
          const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
          bool inside = false;
          if (cls == 1) inside = dx * dx + dy * dy <= r * r;
          if (cls == 2) inside = std::abs(dx) <= r * 0.85 && std::abs(dy) <= r * 0.85;
          if (cls == 3) inside = dy <= r * 0.8 && dy >= -r && std::abs(dx) <= (dy + r) * 0.6;  // apex up
          if (!inside) continue;
          lb[y][x][0] = static_cast<uint8_t>(cls);
          for (int c = 0; c < 3; ++c) px[y][x][c] = static_cast<uint8_t>(std::clamp(colour[c] + noise(rng) * 0.5, 0.0, 255.0));
        }
      }
    }
    const std::string name = std::to_string(n) + ".png";
    io::write_png((fs::path(root) / "images" / split / name).string(), image);
    io::write_png((fs::path(root) / "annotations" / split / name).string(), labels);
  }
}

}  // namespace mae::testing
