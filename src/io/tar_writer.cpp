#include "mae/io/tar_writer.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "mae/core/error.h"

namespace mae::io {
namespace {

constexpr uint64_t kBlock = 512;
constexpr size_t kNameLen = 100;
// The largest size an 11-digit octal field holds (8 GiB - 1).
constexpr uint64_t kMaxOctalSize = (uint64_t{1} << 33) - 1;

uint64_t padded(uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

void put_octal(char* field, size_t len, uint64_t value) {
  std::snprintf(field, len, "%0*llo", static_cast<int>(len - 1), static_cast<unsigned long long>(value));
}

// One pax record, "<length> <key>=<value>\n", where length counts its own digits.
std::string pax_record(const std::string& key, const std::string& value) {
  const size_t body = 1 + key.size() + 1 + value.size() + 1;
  size_t length = body + 1;
  while (std::to_string(length).size() + body != length) ++length;
  return std::to_string(length) + " " + key + "=" + value + "\n";
}

// Names of 100 bytes or more, and non-ASCII names (UTF-8 in pax, as tarfile writes them).
bool name_needs_pax(const std::string& name) {
  if (name.size() >= kNameLen) return true;
  for (unsigned char c : name) {
    if (c >= 0x80) return true;
  }
  return false;
}

bool needs_pax(const std::string& name, uint64_t size) { return name_needs_pax(name) || size > kMaxOctalSize; }

std::string pax_records(const std::string& name, uint64_t size) {
  std::string records;
  if (name_needs_pax(name)) records += pax_record("path", name);
  if (size > kMaxOctalSize) records += pax_record("size", std::to_string(size));
  return records;
}

}  // namespace

uint64_t TarWriter::member_bytes(const std::string& name, uint64_t data_size) {
  uint64_t n = kBlock + padded(data_size);
  if (needs_pax(name, data_size)) n += kBlock + padded(pax_records(name, data_size).size());
  return n;
}

void TarWriter::write_header(const std::string& name, uint64_t size, char type, uint64_t mtime) {
  std::array<char, kBlock> block{};
  std::memcpy(block.data(), name.data(), std::min(name.size(), kNameLen));
  put_octal(block.data() + 100, 8, 0644);
  put_octal(block.data() + 108, 8, 0);
  put_octal(block.data() + 116, 8, 0);
  put_octal(block.data() + 124, 12, std::min(size, kMaxOctalSize));
  put_octal(block.data() + 136, 12, mtime);
  block[156] = type;
  std::memcpy(block.data() + 257, "ustar\0" "00", 8);
  std::memset(block.data() + 148, ' ', 8);
  uint64_t sum = 0;
  for (char c : block) sum += static_cast<unsigned char>(c);
  std::snprintf(block.data() + 148, 8, "%06llo", static_cast<unsigned long long>(sum));  // then NUL, then ' '
  block[155] = ' ';
  out_.write(block.data(), kBlock);
  bytes_ += kBlock;
}

void TarWriter::write_padded(const std::string& data) {
  out_.write(data.data(), static_cast<std::streamsize>(data.size()));
  const uint64_t pad = padded(data.size()) - data.size();
  static const std::array<char, kBlock> zeros{};
  out_.write(zeros.data(), static_cast<std::streamsize>(pad));
  bytes_ += data.size() + pad;
}

void TarWriter::add(const std::string& name, const std::string& data, uint64_t mtime) {
  MAE_CHECK(!finished_, "TarWriter::add after finish");
  MAE_CHECK(!name.empty() && name.find('\0') == std::string::npos, "tar member name '", name, "' is empty or holds a NUL");
  if (needs_pax(name, data.size())) {
    const std::string records = pax_records(name, data.size());
    write_header("PaxHeader/" + name.substr(0, kNameLen - 11), records.size(), 'x', mtime);
    write_padded(records);
  }
  write_header(name, data.size(), '0', mtime);
  write_padded(data);
  MAE_CHECK(out_.good(), "writing tar member '", name, "' failed; the disk may be full");
}

void TarWriter::finish() {
  if (finished_) return;
  static const std::array<char, 2 * kBlock> zeros{};
  out_.write(zeros.data(), zeros.size());
  bytes_ += zeros.size();
  finished_ = true;
  MAE_CHECK(out_.good(), "writing the end of a tar archive failed; the disk may be full");
}

}  // namespace mae::io
