#include "mae/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

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

const char* dtype_name(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  throw Error(str("safetensors cannot store dtype ", c10::toString(type)));
}

struct Entry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // relative to the start of the data section
};

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Validates the JSON header against a data section of `data_size` bytes.
std::vector<Entry> parse_header(const std::string& header, uint64_t data_size, const std::string& origin,
                                std::map<std::string, std::string>* metadata) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str(origin, ": safetensors header is not valid UTF-8 JSON (", e.what(), "); the file is corrupt or not safetensors"));
  }
  MAE_CHECK(json.is_object(), origin, ": safetensors header is not a JSON object");
  std::vector<Entry> entries;
  for (const auto& [name, value] : json.items()) {
    const std::string where = str(origin, ": tensor '", name, "'");
    if (name == "__metadata__") {
      MAE_CHECK(value.is_object(), origin, ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        MAE_CHECK(v.is_string(), origin, ": __metadata__ value for '", k, "' is not a string");
        (*metadata)[k] = v.get<std::string>();
      }
      continue;
    }
    MAE_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") && value.contains("data_offsets"),
              where, " lacks dtype, shape or data_offsets");
    MAE_CHECK(value["dtype"].is_string(), where, ": dtype is not a string");
    Entry e{name, dtype_from_name(value["dtype"].get<std::string>(), where), {}, 0, 0};
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
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    MAE_CHECK(sorted[i]->begin >= sorted[i - 1]->end, origin, ": tensors '", sorted[i - 1]->name, "' and '",
              sorted[i]->name, "' overlap; the file is corrupt");
  }
  return entries;
}

torch::Tensor empty_for(const Entry& e) {
  return torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
}

}  // namespace

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& origin) {
  MAE_CHECK(bytes.size() >= 8, origin, ": ", bytes.size(), " bytes is too short for a safetensors file");
  const uint64_t header_size = read_le64(reinterpret_cast<const unsigned char*>(bytes.data()));
  MAE_CHECK(header_size <= kMaxHeaderBytes && header_size <= bytes.size() - 8, origin, ": header length ",
            header_size, " exceeds the file (", bytes.size(), " bytes); the file is truncated or not safetensors");
  SafetensorsFile file;
  const uint64_t data_start = 8 + header_size;
  const auto entries = parse_header(bytes.substr(8, header_size), bytes.size() - data_start, origin, &file.metadata);
  for (const auto& e : entries) {
    torch::Tensor t = empty_for(e);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes.data() + data_start + e.begin, e.end - e.begin);
    file.tensors.emplace(e.name, t);
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MAE_CHECK(in.good(), "cannot open '", path, "'; check the path");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char prefix[8] = {0};
  MAE_CHECK(file_size >= 8 && in.read(reinterpret_cast<char*>(prefix), 8), path, ": ", file_size,
            " bytes is too short for a safetensors file");
  const uint64_t header_size = read_le64(prefix);
  MAE_CHECK(header_size <= kMaxHeaderBytes && header_size <= file_size - 8, path, ": header length ", header_size,
            " exceeds the file (", file_size, " bytes); the file is truncated or not safetensors");
  std::string header(header_size, '\0');
  MAE_CHECK(in.read(header.data(), static_cast<std::streamsize>(header_size)), path, ": cannot read the header");
  SafetensorsFile file;
  const uint64_t data_start = 8 + header_size;
  const auto entries = parse_header(header, file_size - data_start, path, &file.metadata);
  for (const auto& e : entries) {
    torch::Tensor t = empty_for(e);
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    MAE_CHECK(in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin)), path,
              ": reading tensor '", e.name, "' failed; the file is truncated");
    file.tensors.emplace(e.name, t);
  }
  return file;
}

std::string serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    MAE_CHECK(name != "__metadata__" && !header.contains(name), "safetensors: tensor name '", name, "' is reserved or repeated");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(t);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& t : cpu) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string bytes = serialize_safetensors(tensors, metadata);
  core::write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace mae::io
