// NumPy .npy files (format 1.0 / 2.0 / 3.0: magic, header dict, raw C- or Fortran-order data).
// Writing: so that `numpy.load` reads features without any other package. Reading: untrusted
// input (data sets), the header checked against the bytes there are, the data memory-mapped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/io/byte_source.h"

namespace mae::io {

// uint8, int16, uint16, int32, int64, float32 or float64 tensors of any shape; written atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);

struct NpyHeader {
  torch::ScalarType dtype = torch::kUInt8;
  std::vector<int64_t> shape;
  bool fortran_order = false;
  uint64_t data_offset = 0;  // first data byte, counted from the start of the .npy
  uint64_t data_bytes = 0;   // product of shape x element size
};

// Parses the .npy header that starts at byte `offset` of `source` and checks that its data fits in
// `source`. Element types as write_npy; big-endian and object arrays are refused. Throws mae::Error
// naming the origin and what to do.
NpyHeader read_npy_header(const ByteSource& source, uint64_t offset = 0);

// The array of the .npy file `path`, memory-mapped (copy-on-write: the file is never changed);
// pages are read when touched and the tensor keeps the mapping alive. With `entry_size` > 0 the
// .npy lies at bytes [entry_offset, entry_offset + entry_size) of the file, as an uncompressed
// entry of an .npz archive. Fortran-order arrays come back as a (non-contiguous) view of the same
// logical shape. Throws mae::Error naming the file.
torch::Tensor map_npy(const std::string& path, uint64_t entry_offset = 0, uint64_t entry_size = 0);

}  // namespace mae::io
