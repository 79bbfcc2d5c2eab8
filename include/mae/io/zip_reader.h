// A small, checked reader of zip archives as torch.save writes them: stored (uncompressed)
// entries, ZIP64 records, data descriptors. The central directory is parsed with every length and
// offset checked against the file; entry data is CRC-checked when read. Compressed or encrypted
// entries are refused with a message saying so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mae/io/byte_source.h"

namespace mae::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // first byte of the stored data in the source
  uint64_t size = 0;         // bytes
  uint32_t crc32 = 0;
  uint16_t method = 0;       // 0 = stored; anything else is refused when read
};

// True when the bytes start like a zip archive (a local file header).
bool looks_like_zip(const ByteSource& source);

class ZipArchive {
 public:
  // Parses the central directory; throws mae::Error naming the file on any inconsistency.
  // `source` must outlive the archive.
  explicit ZipArchive(const ByteSource& source);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(const std::string& name) const;
  // The entry's bytes, CRC-checked.
  std::string read(const ZipEntry& entry) const;
  // Reads the entry into `dst` (entry.size bytes), CRC-checked.
  void read_into(const ZipEntry& entry, void* dst) const;
  const std::string& origin() const { return source_.origin(); }

 private:
  void check_readable(const ZipEntry& entry) const;
  void check_crc(const ZipEntry& entry, const void* data) const;
  const ByteSource& source_;
  std::vector<ZipEntry> entries_;
};

}  // namespace mae::io
