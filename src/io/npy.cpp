#include "mae/io/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"

namespace mae::io {
namespace {

struct NpyType {
  torch::ScalarType dtype;
  const char* descr;  // little-endian ('<') or byte-sized ('|')
};
constexpr NpyType kTypes[] = {{torch::kUInt8, "|u1"},   {torch::kInt16, "<i2"}, {torch::kUInt16, "<u2"},
                              {torch::kInt32, "<i4"},   {torch::kInt64, "<i8"}, {torch::kFloat32, "<f4"},
                              {torch::kFloat64, "<f8"}};
constexpr const char* kTypeList = "uint8, int16, uint16, int32, int64, float32, float64";

// The text after `'key':` in the header dict (leading blanks skipped); empty when absent.
std::string value_of(const std::string& header, const std::string& key) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) return "";
  auto colon = header.find(':', at);
  if (colon == std::string::npos) return "";
  const auto start = header.find_first_not_of(" ", colon + 1);
  return start == std::string::npos ? "" : header.substr(start);
}

torch::ScalarType parse_descr(const std::string& value, const std::string& origin) {
  MAE_CHECK(value.size() >= 2 && (value[0] == '\'' || value[0] == '"'), origin, ": .npy header has no 'descr'; not a NumPy file");
  const auto end = value.find(value[0], 1);
  MAE_CHECK(end != std::string::npos, origin, ": .npy header's 'descr' is not closed; the file is corrupt");
  std::string descr = value.substr(1, end - 1);
  if (descr == "<u1" || descr == "u1" || descr == "B") descr = "|u1";
  for (const auto& t : kTypes) {
    if (descr == t.descr) return t.dtype;
  }
  MAE_CHECK(descr.empty() || descr[0] != '>', origin, ": big-endian .npy data ('", descr,
            "') is not supported; save it little-endian: numpy.save(path, a.astype(a.dtype.newbyteorder('<')))");
  throw Error(str(origin, ": .npy element type '", descr, "' is not supported (", kTypeList,
                  " are); convert it with a.astype(...) before saving"));
}

std::vector<int64_t> parse_shape(const std::string& value, const std::string& origin) {
  MAE_CHECK(!value.empty() && value[0] == '(', origin, ": .npy header has no 'shape' tuple; the file is corrupt");
  const auto end = value.find(')');
  MAE_CHECK(end != std::string::npos, origin, ": .npy header's 'shape' is not closed; the file is corrupt");
  std::vector<int64_t> shape;
  size_t i = 1;
  while (i < end) {
    while (i < end && (value[i] == ' ' || value[i] == ',')) ++i;
    if (i >= end) break;
    int64_t v = 0;
    size_t digits = 0;
    for (; i < end && value[i] >= '0' && value[i] <= '9'; ++i, ++digits) {
      MAE_CHECK(v < (int64_t{1} << 48), origin, ": .npy shape value is too large; the file is corrupt");
      v = v * 10 + (value[i] - '0');
    }
    if (i < end && value[i] == 'L') ++i;  // Python 2 longs
    MAE_CHECK(digits > 0 && (i >= end || value[i] == ',' || value[i] == ' '), origin,
              ": .npy shape '", value.substr(0, end + 1), "' is not a tuple of integers; the file is corrupt");
    shape.push_back(v);
  }
  MAE_CHECK(shape.size() <= 8, origin, ": .npy array has ", shape.size(), " dimensions; at most 8 are supported");
  return shape;
}

// A read-only-to-disk view of a whole file; unmapped when the last tensor using it goes.
struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

std::shared_ptr<Mapping> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MAE_CHECK(fd >= 0, "cannot open '", path, "' (", std::strerror(errno), "); check the path and data.root");
  struct stat info {};
  auto mapping = std::make_shared<Mapping>();
  if (::fstat(fd, &info) == 0 && info.st_size > 0) {
    mapping->size = static_cast<size_t>(info.st_size);
    mapping->base = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  }
  const int mmap_errno = errno;
  ::close(fd);
  MAE_CHECK(mapping->size > 0, "'", path, "' is empty or not a regular file; a .npy file was expected");
  MAE_CHECK(mapping->base != MAP_FAILED, "cannot memory-map '", path, "' (", std::strerror(mmap_errno), ")");
  return mapping;
}

}  // namespace

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  const auto t = tensor.detach().cpu().contiguous();
  std::string descr;
  for (const auto& type : kTypes) {
    if (t.scalar_type() == type.dtype) descr = type.descr;
  }
  MAE_CHECK(!descr.empty(), path, ": .npy output supports ", kTypeList, ", not ", t.scalar_type());
  std::string shape = "(";
  for (int64_t d = 0; d < t.dim(); ++d) shape += std::to_string(t.size(d)) + (t.dim() == 1 || d + 1 < t.dim() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic (6) + version (2) + header length (2) + header + '\n', padded to a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  core::write_file_atomic(path, [&](std::ostream& out) {
    out.write("\x93NUMPY\x01\x00", 8);
    const uint16_t length = static_cast<uint16_t>(header.size());
    const char le[2] = {static_cast<char>(length & 0xff), static_cast<char>(length >> 8)};
    out.write(le, 2);
    out << header;
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  });
}

NpyHeader read_npy_header(const ByteSource& source, uint64_t offset) {
  const std::string& origin = source.origin();
  MAE_CHECK(source.contains(offset, 10) && source.read_string(offset, 6, "magic") == "\x93NUMPY", origin,
            ": not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save");
  const std::string version = source.read_string(offset + 6, 2, "version");
  const int major = static_cast<unsigned char>(version[0]);
  MAE_CHECK(major >= 1 && major <= 3, origin, ": .npy format version ", major, " is not supported (1, 2 and 3 are)");
  const uint64_t length_bytes = major == 1 ? 2 : 4;
  const std::string length_le = source.read_string(offset + 8, length_bytes, ".npy header length");
  uint64_t header_length = 0;
  for (int i = static_cast<int>(length_bytes) - 1; i >= 0; --i) {
    header_length = (header_length << 8) | static_cast<unsigned char>(length_le[i]);
  }
  MAE_CHECK(header_length <= (1u << 20), origin, ": .npy header claims ", header_length, " bytes; the file is corrupt");
  const uint64_t header_start = offset + 8 + length_bytes;
  const std::string header = source.read_string(header_start, header_length, ".npy header");
  NpyHeader out;
  out.dtype = parse_descr(value_of(header, "descr"), origin);
  const std::string fortran = value_of(header, "fortran_order");
  MAE_CHECK(fortran.rfind("True", 0) == 0 || fortran.rfind("False", 0) == 0, origin,
            ": .npy header has no 'fortran_order'; the file is corrupt");
  out.fortran_order = fortran[0] == 'T';
  out.shape = parse_shape(value_of(header, "shape"), origin);
  out.data_offset = header_start + header_length - offset;
  uint64_t count = 1;
  for (int64_t d : out.shape) {
    MAE_CHECK(d == 0 || count <= (uint64_t{1} << 56) / static_cast<uint64_t>(d), origin, ": .npy shape is too large");
    count *= static_cast<uint64_t>(d);
  }
  out.data_bytes = count * static_cast<uint64_t>(c10::elementSize(out.dtype));
  MAE_CHECK(source.contains(offset + out.data_offset, out.data_bytes), origin, ": .npy header promises ", out.data_bytes,
            " bytes of data but the file holds ", source.size() - std::min(source.size(), offset + out.data_offset),
            "; the file is truncated, write it again");
  return out;
}

torch::Tensor map_npy(const std::string& path, uint64_t entry_offset, uint64_t entry_size) {
  auto mapping = map_file(path);
  const auto* bytes = static_cast<const char*>(mapping->base);
  MAE_CHECK(entry_size == 0 || (entry_offset <= mapping->size && entry_size <= mapping->size - entry_offset), path,
            ": the archive entry (", entry_size, " bytes at ", entry_offset, ") lies outside the file; it is corrupt");
  const uint64_t size = entry_size > 0 ? entry_size : mapping->size;
  const MemorySource source(bytes + entry_offset, size, path);
  const NpyHeader header = read_npy_header(source);
  std::vector<int64_t> shape = header.shape;
  if (header.fortran_order) std::reverse(shape.begin(), shape.end());
  char* data = static_cast<char*>(mapping->base) + entry_offset + header.data_offset;
  torch::Tensor array;
  if (reinterpret_cast<uintptr_t>(data) % c10::elementSize(header.dtype) == 0) {
    array = torch::from_blob(data, shape, [mapping](void*) {}, torch::TensorOptions().dtype(header.dtype));
  } else {  // an .npz entry need not be aligned: copy it
    array = torch::empty(shape, header.dtype);
    std::memcpy(array.data_ptr(), data, header.data_bytes);
  }
  if (header.fortran_order) {
    std::vector<int64_t> order(shape.size());
    for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<int64_t>(order.size() - 1 - d);
    array = array.permute(order);
  }
  return array;
}

}  // namespace mae::io
