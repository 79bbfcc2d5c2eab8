// NumPy arrays as samples: one memory-mapped .npy of every image (source `npy`), or one .npy / .npz
// file per image (source `npy_files`, read through FileSource). Pixels stay in the array's type
// (uint8, uint16, int16, float32) and layout; each sample is an [H, W, C] view, no copy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/core/choice.h"
#include "mae/data/codecs/image.h"
#include "mae/data/sources/memory_source.h"

namespace mae::data {

// Where an array keeps its channels. kAuto: the smaller of the first and last image dimension
// (ties: channels first); a 2-D image (or 3-D stack) is grey.
enum class ArrayLayout { kAuto, kChannelsFirst, kChannelsLast };
inline constexpr core::Choice<ArrayLayout> kArrayLayoutNames[] = {
    {ArrayLayout::kAuto, "auto"}, {ArrayLayout::kChannelsFirst, "channels_first"}, {ArrayLayout::kChannelsLast, "channels_last"}};

// One image: [H, W] grey, [C, H, W] or [H, W, C] as `layout` says; returns an [H, W, C] view.
// Throws DataError naming `origin` for another rank or an unsupported element type.
torch::Tensor image_view(const torch::Tensor& array, ArrayLayout layout, const std::string& origin);

// A .npy file, or the image of an uncompressed .npz (its only array, or the one named image, x or
// arr_0), memory-mapped. Throws DataError for a missing, truncated or unsupported file.
RawImage read_array_file(const std::string& path, ArrayLayout layout, const std::string& origin);

// True for .npy / .npz paths (any case).
bool has_array_extension(const std::string& path);

// Source `npy`: images [N, H, W] (grey), [N, C, H, W] or [N, H, W, C], memory-mapped; labels an
// optional 1-D integer .npy of N values. Throws UsageError naming the files.
std::unique_ptr<MemorySource> load_npy(const std::string& images_path, const std::string& labels_path, ArrayLayout layout,
                                       std::vector<std::string> class_names = {});

}  // namespace mae::data
