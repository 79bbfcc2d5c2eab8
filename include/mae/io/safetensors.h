// The safetensors format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then raw data.
// Reading treats the file as untrusted: every length, offset, dtype and shape is checked against
// the file before a byte of data is read, and nothing is executed.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace mae::io {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct SafetensorsFile {
  std::map<std::string, torch::Tensor> tensors;  // CPU tensors, sorted by name
  std::map<std::string, std::string> metadata;   // "__metadata__", empty if absent
};

// Throws mae::Error naming the file and the first problem found.
SafetensorsFile read_safetensors(const std::string& path);
// Parses an in-memory file (used by the reader and by the fuzz target).
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& origin);

// Writes atomically (see core/atomic_file.h). Tensors may live on any device; they are copied to
// the CPU and written contiguous, in the order given.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace mae::io
