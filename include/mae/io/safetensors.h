// The safetensors format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then raw data.
// Reading treats the file as untrusted: every length, offset, dtype and shape is checked against
// the file before a byte of data is read, and nothing is executed.
// Writing streams: the header (its offsets follow from shapes and dtypes), then one tensor at a
// time, so saving never holds a second copy of the whole file in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace mae::io {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Metadata key of the data section's CRC-32 (8 hex digits), written by write_safetensors and
// verified by the full readers when present (other writers' files have none).
constexpr const char* kChecksumKey = "mae_data_crc32";

struct SafetensorsFile {
  std::map<std::string, torch::Tensor> tensors;  // CPU tensors, sorted by name
  std::map<std::string, std::string> metadata;   // "__metadata__", empty if absent
};

// One tensor as the header describes it; begin/end are byte offsets into the data section.
struct SafetensorsEntry {
  std::string name;
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;        // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__", empty if absent
  uint64_t data_start = 0;                      // file offset of the data section
};

// Throws mae::Error naming the file and the first problem found.
SafetensorsFile read_safetensors(const std::string& path);
// Where read_safetensors_into puts one tensor: a CPU tensor of the entry's dtype and shape,
// contiguous (a model's parameter, an optimizer's buffer), or an undefined tensor to have one
// allocated. Asked for every tensor, in file order, before any data is read, so it may throw.
using TensorDestination = std::function<torch::Tensor(const SafetensorsEntry&)>;
// Reads `path` straight into the destinations (no second copy of the file in memory), with a few
// threads for a large file, verifying the checksum. On an error the destinations may hold part of
// the data. Returns the tensors read, sorted by name, and the metadata.
SafetensorsFile read_safetensors_into(const std::string& path, const TensorDestination& destination);
// The header alone, checked as strictly as read_safetensors checks it (including that the file is
// long enough for every tensor), without reading any tensor data.
SafetensorsHeader read_safetensors_header(const std::string& path);
// Parses an in-memory file (used by the reader and by the fuzz target).
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& origin);

// Writes atomically (see core/atomic_file.h). Tensors may live on any device and be
// non-contiguous; each is written contiguous, in the order given. A tensor already contiguous on
// the CPU is written from its own memory; any other is copied, one tensor at a time.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same bytes onto any stream; `destination` names it in errors.
void stream_safetensors(std::ostream& out, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                        const std::string& destination);
// The whole file in memory (tests and small files; checkpoints use write_safetensors).
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace mae::io
