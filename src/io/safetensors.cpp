#include "mae/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"

namespace mae::io {
namespace {

// Larger headers are refused, as the reference implementation does (100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16}, {"I8", torch::kInt8}, {"U8", torch::kUInt8}, {"BOOL", torch::kBool},
};

torch::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  throw Error(str(where, ": unsupported dtype '", name, "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"));
}

const char* dtype_name(torch::ScalarType type, const std::string& where) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  throw Error(str(where, ": safetensors cannot store dtype ", c10::toString(type), "; convert it to a supported one (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"));
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Validates the JSON header against a data section of `data_size` bytes.
SafetensorsHeader parse_header(const std::string& header, uint64_t data_size, const std::string& origin) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str(origin, ": safetensors header is not valid UTF-8 JSON (", e.what(), "); the file is corrupt or not safetensors"));
  }
  MAE_CHECK(json.is_object(), origin, ": safetensors header is not a JSON object");
  SafetensorsHeader out;
  for (const auto& [name, value] : json.items()) {
    const std::string where = str(origin, ": tensor '", name, "'");
    if (name == "__metadata__") {
      MAE_CHECK(value.is_object(), origin, ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        MAE_CHECK(v.is_string(), origin, ": __metadata__ value for '", k, "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    MAE_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") && value.contains("data_offsets"),
              where, " lacks dtype, shape or data_offsets");
    MAE_CHECK(value["dtype"].is_string(), where, ": dtype is not a string");
    SafetensorsEntry e{name, dtype_from_name(value["dtype"].get<std::string>(), where), {}, 0, 0};
    const auto& shape = value["shape"];
    MAE_CHECK(shape.is_array() && shape.size() <= 16, where, ": shape is not an array of at most 16 dims");
    uint64_t numel = 1;
    for (const auto& d : shape) {
      MAE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where, ": shape holds a negative or non-integer size");
      const uint64_t n = d.get<uint64_t>();
      MAE_CHECK(n == 0 || numel <= std::numeric_limits<uint64_t>::max() / n, where, ": shape overflows");
      numel *= n;
      e.shape.push_back(static_cast<int64_t>(n));
    }
    const auto& offsets = value["data_offsets"];
    MAE_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
              where, ": data_offsets is not [begin, end]");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    MAE_CHECK(e.begin <= e.end && e.end <= data_size, where, ": data_offsets [", e.begin, ", ", e.end,
              "] lie outside the ", data_size, "-byte data section; the file is truncated or corrupt");
    const uint64_t element = c10::elementSize(e.dtype);
    MAE_CHECK(numel <= std::numeric_limits<uint64_t>::max() / element && numel * element == e.end - e.begin, where,
              ": ", e.end - e.begin, " bytes do not hold shape ", shape.dump(), " of ", value["dtype"].get<std::string>());
    out.entries.push_back(std::move(e));
  }
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : out.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    MAE_CHECK(sorted[i]->begin >= sorted[i - 1]->end, origin, ": tensors '", sorted[i - 1]->name, "' and '",
              sorted[i]->name, "' overlap; the file is corrupt");
  }
  return out;
}

// Opens `path` into `in` and reads and validates its header; `in` is left open for the data.
SafetensorsHeader read_header(std::ifstream& in, const std::string& path) {
  in.open(path, std::ios::binary | std::ios::ate);
  MAE_CHECK(in.good(), "cannot open '", path, "'; check the path");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char prefix[8] = {0};
  MAE_CHECK(file_size >= 8 && in.read(reinterpret_cast<char*>(prefix), 8), path, ": ", file_size,
            " bytes is too short for a safetensors file");
  const uint64_t header_size = read_le64(prefix);
  MAE_CHECK(header_size <= kMaxHeaderBytes && header_size <= file_size - 8, path, ": header length ", header_size,
            " exceeds the file (", file_size, " bytes); the file is truncated or not safetensors");
  std::string json(header_size, '\0');
  MAE_CHECK(in.read(json.data(), static_cast<std::streamsize>(header_size)), path, ": cannot read the header");
  SafetensorsHeader header = parse_header(json, file_size - 8 - header_size, path);
  header.data_start = 8 + header_size;
  return header;
}

torch::Tensor empty_for(const SafetensorsEntry& e) {
  return torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
}

// The errno text of a failed write, when the stream left one.
std::string os_reason() { return errno != 0 ? std::strerror(errno) : "the stream failed"; }

// The 8-byte length and the JSON header, padded so that the data starts 8-byte aligned. Offsets
// follow from each tensor's shape and dtype, so no tensor is touched.
std::string make_header(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                        const std::string& destination) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const std::string where = str(destination, ": tensor '", name, "'");
    MAE_CHECK(name != "__metadata__" && !header.contains(name), where, " is reserved or repeated; give each tensor one name");
    MAE_CHECK(t.defined(), where, " is undefined; pass a tensor");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type(), where)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json;
}

// Files written by write_safetensors carry the CRC-32 of their data; a mismatch is damage.
void verify_checksum(const SafetensorsHeader& header, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& origin) {
  auto it = header.metadata.find(kChecksumKey);
  if (it == header.metadata.end()) return;  // files from other writers carry none
  std::vector<const SafetensorsEntry*> in_file_order;
  for (const auto& e : header.entries) in_file_order.push_back(&e);
  std::sort(in_file_order.begin(), in_file_order.end(), [](const auto* a, const auto* b) { return a->begin < b->begin; });
  uLong crc = crc32_z(0L, Z_NULL, 0);
  for (const auto* e : in_file_order) {
    const auto& t = tensors.at(e->name);
    crc = crc32_z(crc, static_cast<const Bytef*>(t.data_ptr()), static_cast<z_size_t>(e->end - e->begin));
  }
  char digits[9];
  std::snprintf(digits, sizeof(digits), "%08lx", static_cast<unsigned long>(crc));
  MAE_CHECK(it->second == digits, origin, ": the data does not match its checksum (stored ", it->second, ", computed ", digits,
            "); the file is damaged: use another copy or checkpoint");
}

}  // namespace

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& origin) {
  MAE_CHECK(bytes.size() >= 8, origin, ": ", bytes.size(), " bytes is too short for a safetensors file");
  const uint64_t header_size = read_le64(reinterpret_cast<const unsigned char*>(bytes.data()));
  MAE_CHECK(header_size <= kMaxHeaderBytes && header_size <= bytes.size() - 8, origin, ": header length ",
            header_size, " exceeds the file (", bytes.size(), " bytes); the file is truncated or not safetensors");
  const uint64_t data_start = 8 + header_size;
  auto header = parse_header(bytes.substr(8, header_size), bytes.size() - data_start, origin);
  SafetensorsFile file;
  for (const auto& e : header.entries) {
    torch::Tensor t = empty_for(e);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes.data() + data_start + e.begin, e.end - e.begin);
    file.tensors.emplace(e.name, t);
  }
  verify_checksum(header, file.tensors, origin);
  file.metadata = std::move(header.metadata);
  return file;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  std::ifstream in;
  return read_header(in, path);
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in;
  auto header = read_header(in, path);
  SafetensorsFile file;
  for (const auto& e : header.entries) {
    torch::Tensor t = empty_for(e);
    in.seekg(static_cast<std::streamoff>(header.data_start + e.begin));
    MAE_CHECK(in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin)), path,
              ": reading tensor '", e.name, "' failed; the file is truncated");
    file.tensors.emplace(e.name, t);
  }
  verify_checksum(header, file.tensors, path);
  file.metadata = std::move(header.metadata);
  return file;
}

void stream_safetensors(std::ostream& out, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                        const std::string& destination) {
  // The data's CRC-32 goes into the header, which precedes the data: a placeholder of the same
  // width is written first and overwritten once the data is out.
  // A stream that cannot seek back gets no checksum.
  const auto start = out.tellp();
  const bool seekable = start != std::streampos(-1);
  auto with_checksum = metadata;
  if (seekable) with_checksum[kChecksumKey] = "00000000";
  const std::string header = make_header(tensors, with_checksum, destination);
  const std::string placeholder = std::string("\"") + kChecksumKey + "\":\"00000000\"";
  const auto checksum_at = start + static_cast<std::streamoff>(header.find(placeholder) + placeholder.size() - 9);
  uLong crc = crc32_z(0L, Z_NULL, 0);
  errno = 0;
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  MAE_CHECK(out.good(), "writing the header of '", destination, "' failed: ", os_reason(),
            "; check the free space and permissions of its folder");
  for (const auto& [name, tensor] : tensors) {
    // At most one copy at a time, and none for a tensor already contiguous on the CPU. (`to` with
    // MemoryFormat::Contiguous alone returns a strided CPU tensor as it is.)
    torch::Tensor t = tensor.detach();
    if (!t.device().is_cpu()) {
      t = t.to(t.options().device(torch::kCPU), /*non_blocking=*/false, /*copy=*/false, torch::MemoryFormat::Contiguous);
    }
    t = t.contiguous();
    const auto bytes = static_cast<std::streamsize>(t.numel() * t.element_size());
    errno = 0;
    if (bytes > 0) out.write(static_cast<const char*>(t.data_ptr()), bytes);
    MAE_CHECK(out.good(), "writing tensor '", name, "' to '", destination, "' failed: ", os_reason(),
              "; check the free space and permissions of its folder");
    crc = crc32_z(crc, static_cast<const Bytef*>(t.data_ptr()), static_cast<z_size_t>(bytes));
  }
  if (!seekable) return;
  const auto end = out.tellp();
  char digits[9];
  std::snprintf(digits, sizeof(digits), "%08lx", static_cast<unsigned long>(crc));
  out.seekp(checksum_at);
  out.write(digits, 8);
  out.seekp(end);
  MAE_CHECK(out.good(), "writing the checksum of '", destination, "' failed: ", os_reason());
}


std::string serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::ostringstream out;
  stream_safetensors(out, tensors, metadata, "in-memory safetensors");
  return out.str();
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  core::write_file_atomic(path, [&](std::ostream& out) { stream_safetensors(out, tensors, metadata, path); });
}

}  // namespace mae::io
