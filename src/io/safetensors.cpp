#include "mae/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <sstream>
#include <thread>

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

// The entries in the order of their data in the file.
std::vector<const SafetensorsEntry*> in_file_order(const SafetensorsHeader& header) {
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : header.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->begin < b->begin; });
  return sorted;
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
  const auto sorted = in_file_order(out);
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

std::string crc_digits(uLong crc) {
  char digits[9];
  std::snprintf(digits, sizeof(digits), "%08lx", static_cast<unsigned long>(crc));
  return digits;
}

// Files written by write_safetensors carry the CRC-32 of their data (the tensors' bytes in file
// order); a mismatch is damage.
void verify_checksum(const SafetensorsHeader& header, uLong crc, const std::string& origin) {
  auto it = header.metadata.find(kChecksumKey);
  if (it == header.metadata.end()) return;  // files from other writers carry none
  const std::string digits = crc_digits(crc);
  MAE_CHECK(it->second == digits, origin, ": the data does not match its checksum (stored ", it->second, ", computed ", digits,
            "); the file is damaged: use another copy or checkpoint");
}

// One read of part of one tensor's bytes.
struct Piece {
  char* into;
  uint64_t file_offset, bytes;
  const std::string* tensor;
};
constexpr uint64_t kPieceBytes = 8ull << 20;
// Below this a file is read by one thread; above, by up to kMaxReadThreads (the copies out of the
// page cache and the checksum then run on several cores).
constexpr uint64_t kParallelBytes = 32ull << 20;
constexpr unsigned kMaxReadThreads = 8;

// pread()s every piece into place; returns the CRC-32 of all their bytes in order.
uLong read_pieces(const std::string& path, const std::vector<Piece>& pieces) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MAE_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno), "; check the path");
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t total = 0;
  for (const auto& p : pieces) total += p.bytes;
  const size_t threads =
      total < kParallelBytes ? 1 : std::min<size_t>({kMaxReadThreads, std::max(1u, std::thread::hardware_concurrency()), pieces.size()});
  // Thread k reads a contiguous run of pieces holding about total / threads bytes.
  std::vector<size_t> first(threads + 1, pieces.size());
  first[0] = 0;
  for (size_t i = 0, k = 1, seen = 0; i < pieces.size() && k < threads; seen += pieces[i++].bytes) {
    if (seen >= total * k / threads) first[k++] = i;
  }
  std::vector<uLong> crcs(threads);
  std::vector<uint64_t> lengths(threads, 0);
  std::vector<std::exception_ptr> errors(threads);
  auto work = [&](size_t k) {
    try {
      uLong crc = crc32_z(0L, Z_NULL, 0);
      for (size_t i = first[k]; i < first[k + 1]; ++i) {
        const Piece& p = pieces[i];
        for (uint64_t done = 0; done < p.bytes;) {
          const ssize_t n = ::pread(fd, p.into + done, p.bytes - done, static_cast<off_t>(p.file_offset + done));
          MAE_CHECK(n > 0 || (n < 0 && errno == EINTR), path, ": reading tensor '", *p.tensor, "' failed: ",
                    n == 0 ? "the file ends early (truncated)" : std::strerror(errno), "; use another copy or checkpoint");
          if (n > 0) done += static_cast<uint64_t>(n);
        }
        crc = crc32_z(crc, reinterpret_cast<const Bytef*>(p.into), static_cast<z_size_t>(p.bytes));
        lengths[k] += p.bytes;
      }
      crcs[k] = crc;
    } catch (...) {
      errors[k] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t k = 1; k < threads; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& t : pool) t.join();
  ::close(fd);
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  uLong crc = crcs[0];
  for (size_t k = 1; k < threads; ++k) crc = crc32_combine(crc, crcs[k], static_cast<z_off_t>(lengths[k]));
  return crc;
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
  uLong crc = crc32_z(0L, Z_NULL, 0);
  for (const auto* e : in_file_order(header)) {
    const char* data = bytes.data() + data_start + e->begin;
    torch::Tensor t = empty_for(*e);
    if (e->end > e->begin) std::memcpy(t.data_ptr(), data, e->end - e->begin);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(data), static_cast<z_size_t>(e->end - e->begin));
    file.tensors.emplace(e->name, t);
  }
  verify_checksum(header, crc, origin);
  file.metadata = std::move(header.metadata);
  return file;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  std::ifstream in;
  return read_header(in, path);
}

SafetensorsFile read_safetensors_into(const std::string& path, const TensorDestination& destination) {
  const SafetensorsHeader header = read_safetensors_header(path);
  SafetensorsFile file;
  std::vector<Piece> pieces;
  for (const auto* e : in_file_order(header)) {
    torch::Tensor t = destination(*e);
    if (!t.defined()) t = empty_for(*e);
    MAE_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == e->dtype && t.sizes() == c10::IntArrayRef(e->shape),
              path, ": the destination of tensor '", e->name, "' is not a contiguous CPU tensor of its dtype and shape");
    for (uint64_t at = e->begin; at < e->end; at += kPieceBytes) {
      pieces.push_back({static_cast<char*>(t.data_ptr()) + (at - e->begin), header.data_start + at,
                        std::min(kPieceBytes, e->end - at), &e->name});
    }
    file.tensors.emplace(e->name, t);
  }
  verify_checksum(header, read_pieces(path, pieces), path);
  file.metadata = header.metadata;
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return read_safetensors_into(path, [](const SafetensorsEntry&) { return torch::Tensor(); });
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
    const auto* data = static_cast<const Bytef*>(t.data_ptr());
    // A large tensor's checksum is computed on another core while it is written.
    std::future<uLong> tensor_crc = std::async(static_cast<uint64_t>(bytes) >= kParallelBytes / 16 ? std::launch::async : std::launch::deferred,
                                               [=] { return crc32_z(crc32_z(0L, Z_NULL, 0), data, static_cast<z_size_t>(bytes)); });
    errno = 0;
    if (bytes > 0) out.write(reinterpret_cast<const char*>(data), bytes);
    crc = crc32_combine(crc, tensor_crc.get(), static_cast<z_off_t>(bytes));
    MAE_CHECK(out.good(), "writing tensor '", name, "' to '", destination, "' failed: ", os_reason(),
              "; check the free space and permissions of its folder");
  }
  if (!seekable) return;
  const auto end = out.tellp();
  out.seekp(checksum_at);
  out.write(crc_digits(crc).data(), 8);
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
