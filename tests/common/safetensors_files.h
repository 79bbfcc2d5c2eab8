// Hand-made safetensors files for the reader tests: a JSON header of one's own followed by zero
// bytes of data, in memory, or on disk as a sparse file of any length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace mae::testing {

inline std::string safetensors_with_header(const std::string& json, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + std::string(data_bytes, '\0');
}

// Only the header takes disk space: the data section is a hole (ftruncate).
inline void write_sparse_safetensors(const std::string& path, const std::string& json, uint64_t data_bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << safetensors_with_header(json, 0);
  std::filesystem::resize_file(path, 8 + json.size() + data_bytes);
}

}  // namespace mae::testing
