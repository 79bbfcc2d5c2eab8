// CRC-32 (the zip / PNG polynomial 0xEDB88320), used to check zip entries as they are read.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mae::io {

// Continues `crc` (0 to start) over `n` bytes.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);

}  // namespace mae::io
