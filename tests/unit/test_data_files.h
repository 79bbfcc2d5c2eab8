// Test helpers for the data tests: a temporary folder and writers of small JPEG, PNG, IDX and
// CIFAR files, so each test makes exactly the files it reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace mae::testing {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes);
std::string read_bytes(const std::string& path);

// [H, W, C] uint8 of smooth gradients and waves (JPEG-friendly, like a photo), seeded.
torch::Tensor smooth_image(int64_t height, int64_t width, int64_t channels, uint64_t seed);

// JPEG of [H, W, C] uint8 (C = 1, 3, or 4 written as Adobe CMYK), 4:2:0 for colour.
std::string encode_jpeg(const torch::Tensor& pixels, int quality = 95, bool progressive = false);

// PNG of [H, W, C] uint8. color_type is libpng's (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA);
// bit_depth 8 or 16 (16 stores v * 257). Alpha channels are written as 128 everywhere; palette
// images need at most 256 distinct colours.
std::string encode_png(const torch::Tensor& pixels, int color_type, int bit_depth = 8, bool interlaced = false);

// WebP of [H, W, 3] uint8 (or [H, W, 4] with alpha): lossless when quality < 0, else lossy at that
// quality. Needs a build with libwebp (MAE_WITH_WEBP).
std::string encode_webp(const torch::Tensor& pixels, float quality = -1);

// IDX file of unsigned bytes with the given dims (gzip-compressed when gzip).
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip);

// CIFAR-10 (labels_per_record 1) or CIFAR-100 (2) records from [N, 32, 32, 3] uint8 and labels;
// CIFAR-100 coarse labels are written as 99 - label so that a mix-up would show.
void write_cifar(const std::string& path, const torch::Tensor& images, const std::vector<int64_t>& labels,
                 int labels_per_record);

}  // namespace mae::testing
