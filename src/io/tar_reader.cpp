#include "mae/io/tar_reader.h"

#include <array>
#include <cstring>

#include "mae/core/error.h"

namespace mae::io {
namespace {

constexpr uint64_t kBlock = 512;
// pax records and GNU long names are read into memory: a bound against hostile sizes.
constexpr uint64_t kMaxMetadata = uint64_t{1} << 20;

// Header field offsets and lengths (POSIX ustar).
constexpr size_t kName = 0, kNameLen = 100;
constexpr size_t kSize = 124, kSizeLen = 12;
constexpr size_t kChecksum = 148, kChecksumLen = 8;
constexpr size_t kType = 156;
constexpr size_t kMagic = 257;
constexpr size_t kPrefix = 345, kPrefixLen = 155;

uint64_t padded(uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

std::string field_string(const char* block, size_t at, size_t len) {
  const char* begin = block + at;
  return std::string(begin, strnlen(begin, len));
}

// Octal digits (leading blanks, ended by NUL or blank), or base-256 when the first byte has its top bit set.
bool parse_number(const char* field, size_t len, uint64_t* out) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(field);
  uint64_t value = 0;
  if (bytes[0] & 0x80) {
    if (bytes[0] != 0x80) return false;  // negative (0xff) or a value too wide for 64 bits
    for (size_t i = 1; i < len; ++i) {
      if (value >> 56) return false;
      value = value << 8 | bytes[i];
    }
    *out = value;
    return true;
  }
  size_t i = 0;
  while (i < len && bytes[i] == ' ') ++i;
  bool digits = false;
  for (; i < len && bytes[i] >= '0' && bytes[i] <= '7'; ++i) {
    if (value >> 61) return false;
    value = value << 3 | (bytes[i] - '0');
    digits = true;
  }
  for (; i < len; ++i) {  // only terminators may follow
    if (bytes[i] != ' ' && bytes[i] != '\0') return false;
  }
  *out = value;
  return digits || len > 0;
}

bool checksum_ok(const char* block) {
  uint64_t stored = 0;
  if (!parse_number(block + kChecksum, kChecksumLen, &stored)) return false;
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;  // some old writers summed signed chars
  for (size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= kChecksum && i < kChecksum + kChecksumLen;
    const char c = in_field ? ' ' : block[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || static_cast<int64_t>(stored) == signed_sum;
}

bool all_zero(const char* block) {
  for (size_t i = 0; i < kBlock; ++i) {
    if (block[i] != 0) return false;
  }
  return true;
}

// pax extended header records, "<length> <key>=<value>\n"; sets the path and size overrides it has.
void parse_pax(const std::string& records, const std::string& where, std::string* path, uint64_t* size, bool* has_size) {
  size_t at = 0;
  while (at < records.size()) {
    if (records[at] == '\0') break;  // padding some writers leave
    const size_t space = records.find(' ', at);
    MAE_CHECK(space != std::string::npos && space > at && space - at <= 20, where, ": malformed pax record");
    uint64_t length = 0;
    for (size_t i = at; i < space; ++i) {
      MAE_CHECK(records[i] >= '0' && records[i] <= '9', where, ": malformed pax record length");
      length = length * 10 + static_cast<uint64_t>(records[i] - '0');
    }
    MAE_CHECK(length > space - at + 1 && length <= records.size() - at && records[at + length - 1] == '\n', where,
              ": pax record of length ", length, " does not fit its header");
    const std::string record = records.substr(space + 1, at + length - 1 - (space + 1));
    const size_t eq = record.find('=');
    MAE_CHECK(eq != std::string::npos, where, ": pax record without '='");
    const std::string key = record.substr(0, eq), value = record.substr(eq + 1);
    if (key == "path") {
      *path = value;
    } else if (key == "size") {
      uint64_t n = 0;
      MAE_CHECK(!value.empty() && value.size() <= 19, where, ": pax size '", value, "' is not a number");
      for (char c : value) {
        MAE_CHECK(c >= '0' && c <= '9', where, ": pax size '", value, "' is not a number");
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      *size = n;
      *has_size = true;
    }
    at += length;
  }
}

}  // namespace

bool TarReader::next(TarMember* out) {
  std::string long_name, pax_path;
  uint64_t pax_size = 0;
  bool has_pax_size = false;
  std::array<char, kBlock> block{};
  while (true) {
    if (position_ == source_.size()) return false;  // the end at a header boundary
    const uint64_t header = position_;
    auto where = [&] { return str(source_.origin(), ": tar header at byte ", header); };  // built only for a message
    MAE_CHECK(source_.contains(position_, kBlock), where(), " is cut off after ", source_.size() - position_,
              " bytes; the archive is truncated");
    source_.read(position_, kBlock, block.data(), "tar header");
    if (all_zero(block.data())) return false;  // the end-of-archive marker
    MAE_CHECK(checksum_ok(block.data()), where(), " has a bad checksum; the archive is corrupt (or not a tar file)");
    uint64_t size = 0;
    MAE_CHECK(parse_number(block.data() + kSize, kSizeLen, &size), where(), " has a malformed size field");
    const char type = block[kType];
    if (type == 'x' || type == 'X') has_pax_size = false;  // a pax header overrides what came before it
    if ((type == 'x' || type == 'X') || type == 'L' || type == 'g' || type == 'K') {
      MAE_CHECK(size <= kMaxMetadata, where(), ": a ", size, "-byte metadata record is implausible; the archive is corrupt");
    } else if (has_pax_size) {
      size = pax_size;
    }
    // Links, devices, directories and fifos carry no data whatever their size field says (as tarfile).
    const bool no_data = type >= '1' && type <= '6';
    if (no_data) size = 0;
    const uint64_t data = position_ + kBlock;
    MAE_CHECK(source_.contains(data, padded(size)), where(), ": member of ", size, " bytes (padded to ", padded(size),
              ") runs past the end of the ", source_.size(), "-byte archive; the archive is truncated");
    position_ = data + padded(size);
    if (type == 'x' || type == 'X') {
      parse_pax(source_.read_string(data, size, "pax header"), where(), &pax_path, &pax_size, &has_pax_size);
      continue;
    }
    if (type == 'L') {
      const std::string name = source_.read_string(data, size, "GNU long name");
      long_name = name.substr(0, strnlen(name.data(), name.size()));
      continue;
    }
    if (type == 'g' || type == 'K') continue;  // global pax defaults, GNU long link names: not needed
    std::string name = field_string(block.data(), kName, kNameLen);
    if (std::memcmp(block.data() + kMagic, "ustar\0", 6) == 0) {  // POSIX: the name may have a prefix
      const std::string prefix = field_string(block.data(), kPrefix, kPrefixLen);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (!long_name.empty()) name = long_name;
    if (!pax_path.empty()) name = pax_path;
    out->name = name;
    out->offset = data;
    out->type = type;
    out->size = size;
    return true;
  }
}

}  // namespace mae::io
