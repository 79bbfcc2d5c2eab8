// Pictures of images with any number of channels (bands), as remote-sensing viewers show them:
// three chosen bands as an RGB composite, or every band as its own grey row, each band stretched
// linearly between its 2nd and 98th percentile (of the original images) so that 16-bit or float
// data that fills a small part of its range is still visible.
// Legend: N images, C channels, H x W pixels.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mae/eval/reconstruction.h"

namespace mae::eval {

// The percentiles of the stretch.
constexpr double kStretchLow = 0.02, kStretchHigh = 0.98;

// Throws UsageError unless `channels` (band numbers from 1, as GDAL and QGIS count) is empty, or
// names 1 or 3 bands of `in_chans`.
void check_picture_channels(const std::vector<int64_t>& channels, int64_t in_chans);

// r's four panels ([N, C, H, W] in [0, 1]) made drawable:
//   channels = {r, g, b}: [N, 3, H, W], the stretched composite of those bands;
//   channels = {b}:       [N, 1, H, W], that band stretched;
//   empty, C = 1 or 3:    unchanged (no stretch), as for photos;
//   empty, other C:       [N * C, 1, H, W], one grey row per band (image 0's bands first), stretched,
//                         each row labelled "image i band b" (from 1) in row_labels.
// The mask and loss are passed through.
Reconstruction picture_bands(const Reconstruction& r, const std::vector<int64_t>& channels);

// How many of `num_images` a picture shows so that it stays within about kMaxPictureRows rows: all
// of them, except when every band gets a row of its own (no selection, C not 1 or 3).
constexpr int64_t kMaxPictureRows = 12;
int64_t images_in_picture(int64_t num_images, int64_t in_chans, const std::vector<int64_t>& channels);

}  // namespace mae::eval
