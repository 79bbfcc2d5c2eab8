// NumPy .npy output (format 1.0: magic, header dict, raw little-endian C-order data), so
// `numpy.load` reads features without any other package.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mae::io {

// float32, float64, int64, int32 or uint8 tensors of any shape; written atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);

}  // namespace mae::io
