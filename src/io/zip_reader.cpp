#include "mae/io/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <set>

#include "mae/core/error.h"

namespace mae::io {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr uint64_t kEndOfDirectoryBytes = 22, kCentralHeaderBytes = 46, kLocalHeaderBytes = 30;

uint64_t le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

struct Directory {
  uint64_t entries = 0, size = 0, offset = 0;
};

// Finds the end-of-central-directory record (and its ZIP64 form when present).
Directory find_directory(const ByteSource& src) {
  const std::string& origin = src.origin();
  MAE_CHECK(src.size() >= kEndOfDirectoryBytes, origin, ": ", src.size(), " bytes is too short for a zip archive");
  // The record sits at the end, followed by a comment of at most 65535 bytes.
  const uint64_t window = std::min<uint64_t>(src.size(), kEndOfDirectoryBytes + 0xffff);
  const std::string tail = src.read_string(src.size() - window, window, "end of the zip archive");
  int64_t at = -1;
  for (int64_t i = static_cast<int64_t>(window - kEndOfDirectoryBytes); i >= 0; --i) {
    if (le(tail, i, 4) == kEndOfDirectory) {
      at = i;
      break;
    }
  }
  MAE_CHECK(at >= 0, origin, ": no zip end-of-central-directory record; the file is truncated or not a torch.save archive");
  const uint64_t record = src.size() - window + static_cast<uint64_t>(at);
  Directory dir{le(tail, at + 10, 2), le(tail, at + 12, 4), le(tail, at + 16, 4)};
  MAE_CHECK(le(tail, at + 4, 2) == 0 || le(tail, at + 4, 2) == 0xffff, origin,
            ": multi-part zip archives are not supported");
  // ZIP64: a locator just before the record points at the 64-bit record.
  if (record >= 20) {
    const std::string loc = src.read_string(record - 20, 20, "ZIP64 locator");
    if (le(loc, 0, 4) == kZip64Locator) {
      const uint64_t offset = le(loc, 8, 8);
      const std::string z = src.read_string(offset, 56, "ZIP64 end-of-central-directory record");
      MAE_CHECK(le(z, 0, 4) == kZip64EndOfDirectory, origin, ": the ZIP64 locator points at offset ", offset,
                " which holds no ZIP64 record; the file is corrupt");
      dir = Directory{le(z, 32, 8), le(z, 40, 8), le(z, 48, 8)};
    }
  }
  MAE_CHECK(src.contains(dir.offset, dir.size), origin, ": the central directory (", dir.size, " bytes at offset ",
            dir.offset, ") lies outside the ", src.size(), "-byte file; the file is truncated or corrupt");
  MAE_CHECK(dir.entries <= dir.size / kCentralHeaderBytes, origin, ": the central directory claims ", dir.entries,
            " entries but has room for ", dir.size / kCentralHeaderBytes, "; the file is corrupt");
  return dir;
}

// Applies the ZIP64 extended-information extra field: 64-bit values replace the 0xffffffff ones,
// in the order uncompressed size, compressed size, local header offset.
void apply_zip64_extra(const std::string& extra, const std::string& where, uint64_t* usize, uint64_t* csize,
                       uint64_t* local) {
  size_t at = 0;
  while (at + 4 <= extra.size()) {
    const uint64_t id = le(extra, at, 2), len = le(extra, at + 2, 2);
    MAE_CHECK(at + 4 + len <= extra.size(), where, ": an extra field runs past its entry");
    if (id == 0x0001) {
      size_t p = at + 4;
      for (uint64_t* field : {usize, csize, local}) {
        if (*field != 0xffffffffu) continue;
        MAE_CHECK(p + 8 <= at + 4 + len, where, ": the ZIP64 extra field is too short");
        *field = le(extra, p, 8);
        p += 8;
      }
      return;
    }
    at += 4 + len;
  }
  MAE_CHECK(*usize != 0xffffffffu && *csize != 0xffffffffu && *local != 0xffffffffu, where,
            ": sizes are marked ZIP64 but the entry has no ZIP64 extra field");
}

}  // namespace

bool looks_like_zip(const ByteSource& source) {
  if (source.size() < 4) return false;
  const std::string magic = source.read_string(0, 4, "zip signature");
  return le(magic, 0, 4) == kLocalHeader;
}

ZipArchive::ZipArchive(const ByteSource& src) : source_(src) {
  const std::string& origin = src.origin();
  const Directory dir = find_directory(src);
  const std::string cd = src.read_string(dir.offset, dir.size, "central directory");
  std::set<std::string> names;
  size_t at = 0;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    const std::string where = str(origin, ": zip entry ", i);
    MAE_CHECK(at + kCentralHeaderBytes <= cd.size() && le(cd, at, 4) == kCentralHeader, where,
              ": bad central directory header; the file is corrupt");
    const uint64_t flags = le(cd, at + 8, 2), name_len = le(cd, at + 28, 2), extra_len = le(cd, at + 30, 2),
                   comment_len = le(cd, at + 32, 2);
    MAE_CHECK(at + kCentralHeaderBytes + name_len + extra_len + comment_len <= cd.size(), where,
              ": name or extra field runs past the central directory");
    ZipEntry e;
    e.name = cd.substr(at + kCentralHeaderBytes, name_len);
    e.method = static_cast<uint16_t>(le(cd, at + 10, 2));
    e.crc32 = static_cast<uint32_t>(le(cd, at + 16, 4));
    uint64_t csize = le(cd, at + 20, 4), usize = le(cd, at + 24, 4), local = le(cd, at + 42, 4);
    apply_zip64_extra(cd.substr(at + kCentralHeaderBytes + name_len, extra_len), str(where, " '", e.name, "'"), &usize,
                      &csize, &local);
    MAE_CHECK(!(flags & 1), where, " '", e.name, "' is encrypted; encrypted archives are not supported");
    MAE_CHECK(e.method != 0 || csize == usize, where, " '", e.name, "' is stored but its sizes differ (", csize, " vs ",
              usize, "); the file is corrupt");
    MAE_CHECK(names.insert(e.name).second, origin, ": zip entry '", e.name, "' appears twice; the file is corrupt");
    // The data follows the local header, whose name and extra field may differ in length.
    const std::string lh = src.read_string(local, kLocalHeaderBytes, str("local header of '", e.name, "'"));
    MAE_CHECK(le(lh, 0, 4) == kLocalHeader, origin, ": the local header of '", e.name, "' at offset ", local,
              " is missing; the file is corrupt");
    const uint64_t local_name = le(lh, 26, 2), local_extra = le(lh, 28, 2);
    MAE_CHECK(src.read_string(local + kLocalHeaderBytes, local_name, "local entry name") == e.name, origin,
              ": the local header at offset ", local, " names a different entry than '", e.name, "'; the file is corrupt");
    e.data_offset = local + kLocalHeaderBytes + local_name + local_extra;
    e.size = csize;
    MAE_CHECK(src.contains(e.data_offset, e.size), origin, ": zip entry '", e.name, "' (", e.size,
              " bytes at offset ", e.data_offset, ") lies outside the ", src.size(),
              "-byte file; the file is truncated or corrupt");
    entries_.push_back(std::move(e));
    at += kCentralHeaderBytes + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

void ZipArchive::check_readable(const ZipEntry& e) const {
  MAE_CHECK(e.method == 0, origin(), ": zip entry '", e.name, "' is compressed (method ", e.method,
            "); torch.save writes uncompressed entries, so save the checkpoint again with torch.save");
}

void ZipArchive::check_crc(const ZipEntry& e, const void* data) const {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  return;  // the fuzz build lets mutated entries reach the pickle reader (libFuzzer convention)
#endif
  const auto crc = static_cast<uint32_t>(::crc32_z(0, static_cast<const Bytef*>(data), e.size));
  MAE_CHECK(crc == e.crc32, origin(), ": zip entry '", e.name, "' fails its CRC check (", crc, " != ", e.crc32,
            "); the file is corrupt");
}

std::string ZipArchive::read(const ZipEntry& e) const {
  check_readable(e);
  std::string out = source_.read_string(e.data_offset, e.size, str("zip entry '", e.name, "'"));
  check_crc(e, out.data());
  return out;
}

void ZipArchive::read_into(const ZipEntry& e, void* dst) const {
  check_readable(e);
  source_.read(e.data_offset, e.size, dst, str("zip entry '", e.name, "'"));
  check_crc(e, dst);
}

}  // namespace mae::io
