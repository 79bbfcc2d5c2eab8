#include "mae/train/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "mae/core/error.h"

namespace mae::train {
namespace {

std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;  // Castagnoli, reflected
    table[i] = c;
  }
  return table;
}

// Protobuf wire format, just what Event needs.
void put_varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void put_tag(std::string* out, int field, int wire_type) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type); }
template <typename T>
void put_fixed(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian host (x86-64, aarch64)
  out->append(bytes, sizeof(T));
}
void put_bytes(std::string* out, int field, const std::string& bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out->append(bytes);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_tag(&e, 1, 1);
  put_fixed(&e, wall_time);
  put_tag(&e, 2, 0);
  put_varint(&e, static_cast<uint64_t>(step));
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const auto table = make_crc32c_table();
  uint32_t c = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = str(dir, "/events.out.tfevents.", static_cast<int64_t>(now_seconds()), ".", host, ".", ::getpid());
  out_.open(path_, std::ios::binary | std::ios::trunc);
  MAE_CHECK(out_.good(), "cannot create TensorBoard event file '", path_, "'; check that the run folder is writable");
  std::string e = event_header(now_seconds(), 0);
  put_bytes(&e, 3, "brain.Event:2");
  write_record(e);
  flush();
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::string v;
  put_bytes(&v, 1, tag);
  put_tag(&v, 2, 5);
  put_fixed(&v, static_cast<float>(value));
  std::string summary;
  put_bytes(&summary, 1, v);
  std::string e = event_header(now_seconds(), step);
  put_bytes(&e, 5, summary);
  write_record(e);
}

void TensorBoardWriter::write_record(const std::string& event) {
  std::string header;
  put_fixed(&header, static_cast<uint64_t>(event.size()));
  const uint32_t header_crc = masked_crc32c(header.data(), header.size());
  const uint32_t data_crc = masked_crc32c(event.data(), event.size());
  out_.write(header.data(), static_cast<std::streamsize>(header.size()));
  out_.write(reinterpret_cast<const char*>(&header_crc), 4);
  out_.write(event.data(), static_cast<std::streamsize>(event.size()));
  out_.write(reinterpret_cast<const char*>(&data_crc), 4);
}

void TensorBoardWriter::flush() { out_.flush(); }

}  // namespace mae::train
