#include "mae/io/pth.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "mae/core/error.h"
#include "mae/io/pickle.h"
#include "mae/io/zip_reader.h"

namespace mae::io {
namespace {

using Kind = PickleValue::Kind;

// Where official MAE, timm, DeiT and mmcv-style trainers put the weights, in order of preference.
constexpr const char* kStateDictKeys[] = {"model", "state_dict", "module"};
constexpr int kMaxNesting = 16;
constexpr size_t kMaxDims = 64;

struct StorageType {
  const char* name;
  torch::ScalarType type;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
    {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16}, {"CharStorage", torch::kInt8}, {"ByteStorage", torch::kUInt8},
    {"BoolStorage", torch::kBool},
};

// "<archive>/" of the single "<archive>/data.pkl" entry.
std::string archive_prefix(const ZipArchive& zip) {
  std::string prefix;
  int found = 0;
  for (const auto& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = e.name.substr(0, slash + 1);
      ++found;
    }
  }
  if (found == 0) {
    for (const auto& e : zip.entries()) {
      MAE_CHECK(e.name.find("constants.pkl") == std::string::npos, zip.origin(),
                ": this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the "
                "model's state_dict() with torch.save instead");
    }
  }
  MAE_CHECK(found == 1, zip.origin(), ": expected one '<archive>/data.pkl' entry, found ", found,
            "; this zip file is not a torch.save checkpoint");
  return prefix;
}

// Shortest text that reads back as the same double (Python's repr style).
std::string float_text(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v || std::isnan(v)) break;
  }
  return buf;
}

class StateDictReader {
 public:
  StateDictReader(const Pickle& pickle, const ZipArchive& zip, std::string prefix)
      : p_(pickle), zip_(zip), prefix_(std::move(prefix)) {}

  PthFile read() {
    PthFile out;
    const PickleValue& root = p_.at(p_.root());
    MAE_CHECK(root.kind == Kind::kDict, origin(), ": the checkpoint holds a ", kind_name(root.kind),
              ", not a dict of tensors; save a state_dict() (or a dict holding one under 'model')");
    const size_t wrapped = find_state_dict(root, &out.state_dict_key);
    if (wrapped == kNone) {
      flatten(p_.root(), "", 0, &out);
      return out;
    }
    flatten(wrapped, "", 0, &out);
    for (size_t i = 0; i < root.items.size(); i += 2) {
      const std::string key = key_text(root.items[i]);
      if (key != out.state_dict_key) describe_other(key, root.items[i + 1], &out);
    }
    return out;
  }

 private:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();
  const std::string& origin() const { return zip_.origin(); }

  size_t find_state_dict(const PickleValue& root, std::string* key) const {
    for (const char* candidate : kStateDictKeys) {
      for (size_t i = 0; i < root.items.size(); i += 2) {
        const PickleValue& k = p_.at(root.items[i]);
        if (k.kind == Kind::kString && k.text == candidate && p_.at(root.items[i + 1]).kind == Kind::kDict) {
          *key = candidate;
          return root.items[i + 1];
        }
      }
    }
    return kNone;
  }

  std::string key_text(size_t index) const {
    const PickleValue& k = p_.at(index);
    if (k.kind == Kind::kString) return k.text;
    if (k.kind == Kind::kInt) return std::to_string(k.int_value);
    throw Error(str(origin(), ": a dict key is a ", kind_name(k.kind), "; state dicts have str keys"));
  }

  // "3", "0.1", "True", "name"; empty when `index` is not a scalar.
  std::string scalar_text(size_t index) const {
    const PickleValue& v = p_.at(index);
    switch (v.kind) {
      case Kind::kNone: return "None";
      case Kind::kBool: return v.int_value ? "True" : "False";
      case Kind::kInt: return std::to_string(v.int_value);
      case Kind::kFloat: return float_text(v.float_value);
      case Kind::kString: return v.text;
      default: return "";
    }
  }
  static std::string describe(const PickleValue& v) {
    return v.kind == Kind::kObject ? str("an object of class ", v.text) : str("a value of type ", kind_name(v.kind));
  }
  bool is_scalar(size_t index) const {
    const Kind k = p_.at(index).kind;
    return k == Kind::kNone || k == Kind::kBool || k == Kind::kInt || k == Kind::kFloat || k == Kind::kString;
  }

  // Tensors under `dict`, nested dicts joined with '.'.
  void flatten(size_t dict, const std::string& prefix, int depth, PthFile* out) {
    MAE_CHECK(depth <= kMaxNesting, origin(), ": dicts nest deeper than ", kMaxNesting, " levels at '", prefix, "'");
    const std::vector<size_t> items = p_.at(dict).items;
    for (size_t i = 0; i < items.size(); i += 2) {
      MAE_CHECK(++visits_ <= p_.size(), origin(), ": the pickle reuses dicts more often than torch.save ever does");
      const std::string name = prefix + key_text(items[i]);
      const PickleValue& v = p_.at(items[i + 1]);
      if (v.kind == Kind::kTensor) {
        MAE_CHECK(names_.insert(name).second, origin(), ": tensor '", name, "' appears twice");
        out->tensors.emplace_back(name, tensor(items[i + 1], name));
      } else if (v.kind == Kind::kDict) {
        flatten(items[i + 1], name + ".", depth + 1, out);
      } else {
        out->notes.push_back(str("skipped '", name, "': ", describe(v), ", not a tensor"));
      }
    }
  }

  // A top-level entry beside the state dict: scalars become metadata, the rest a note.
  void describe_other(const std::string& key, size_t index, PthFile* out) const {
    const PickleValue& v = p_.at(index);
    if (is_scalar(index)) {
      out->metadata[key] = scalar_text(index);
      return;
    }
    size_t fields = kNone;  // a dict whose scalar fields are kept
    if (v.kind == Kind::kObject && v.items.size() == 1 && p_.at(v.items[0]).kind == Kind::kDict) {
      fields = v.items[0];  // its BUILD state
    } else if (v.kind == Kind::kDict) {
      fields = index;
    }
    int kept = 0;
    if (fields != kNone) {
      const auto& items = p_.at(fields).items;
      for (size_t i = 0; i < items.size(); i += 2) {
        if (p_.at(items[i]).kind == Kind::kString && is_scalar(items[i + 1])) {
          out->metadata[key + "." + p_.at(items[i]).text] = scalar_text(items[i + 1]);
          ++kept;
        }
      }
    }
    out->notes.push_back(str("skipped '", key, "': ", describe(v), ", not weights",
                             kept ? str("; its ", kept, " scalar fields are kept as metadata ", key, ".*") : ""));
  }

  torch::Tensor tensor(size_t index, const std::string& name) {
    const PickleValue& t = p_.at(index);
    const PickleValue& s = p_.at(t.storage);
    const std::string where = str(origin(), ": tensor '", name, "'");
    torch::Tensor storage = load_storage(s, where);
    MAE_CHECK(t.sizes.size() <= kMaxDims, where, " has ", t.sizes.size(), " dims");
    MAE_CHECK(t.storage_offset >= 0, where, " has a negative storage offset");
    bool empty = false;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      MAE_CHECK(t.sizes[d] >= 0 && t.strides[d] >= 0, where, " has a negative size or stride");
      empty = empty || t.sizes[d] == 0;
    }
    if (!empty) {  // the last element addressed must lie inside the storage
      int64_t last = t.storage_offset;
      for (size_t d = 0; d < t.sizes.size(); ++d) {
        const int64_t step = t.sizes[d] - 1;
        MAE_CHECK(t.strides[d] == 0 || step <= (std::numeric_limits<int64_t>::max() - last) / t.strides[d], where,
                  ": size and stride overflow");
        last += step * t.strides[d];
      }
      MAE_CHECK(last < storage.numel(), where, ": shape ", torch::IntArrayRef(t.sizes), " with stride ",
                torch::IntArrayRef(t.strides), " at offset ", t.storage_offset, " reaches element ", last,
                " of a storage of ", storage.numel(), "; the file is corrupt");
    }
    return storage.as_strided(t.sizes, t.strides, t.storage_offset);
  }

  torch::Tensor load_storage(const PickleValue& s, const std::string& where) {
    torch::ScalarType type = torch::kFloat32;
    bool known = false;
    for (const auto& st : kStorageTypes) {
      if (s.storage_type == st.name) {
        type = st.type;
        known = true;
      }
    }
    MAE_CHECK(known, where, " uses storage type '", s.storage_type,
              "', which is not supported (float64/32/16, bfloat16, int64/32/16/8, uint8, bool are)");
    const auto cached = storages_.find(s.text);
    if (cached != storages_.end()) {
      MAE_CHECK(cached->second.scalar_type() == type, where, ": storage '", s.text, "' is declared with two dtypes");
      return cached->second;
    }
    const std::string entry_name = prefix_ + "data/" + s.text;
    const ZipEntry* entry = zip_.find(entry_name);
    MAE_CHECK(entry, where, ": its storage '", entry_name, "' is missing from the archive; the file is incomplete");
    const uint64_t element = c10::elementSize(type);
    MAE_CHECK(static_cast<uint64_t>(s.int_value) <= std::numeric_limits<uint64_t>::max() / element &&
                  static_cast<uint64_t>(s.int_value) * element == entry->size,
              where, ": storage '", entry_name, "' has ", entry->size, " bytes but should hold ", s.int_value, " ",
              s.storage_type, " elements; the file is corrupt");
    torch::Tensor storage = torch::empty({s.int_value}, torch::TensorOptions().dtype(type));
    zip_.read_into(*entry, storage.data_ptr());
    storages_.emplace(s.text, storage);
    return storage;
  }

  const Pickle& p_;
  const ZipArchive& zip_;
  std::string prefix_;
  std::map<std::string, torch::Tensor> storages_;
  std::set<std::string> names_;
  size_t visits_ = 0;
};

}  // namespace

PthFile parse_pth(const ByteSource& source) {
  MAE_CHECK(looks_like_zip(source), source.origin(),
            ": not a zip archive; only the zip format of torch.save (PyTorch >= 1.6) is read. Load the file in "
            "PyTorch and save it again with torch.save, or convert it to safetensors");
  const ZipArchive zip(source);
  const std::string prefix = archive_prefix(zip);
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::string value = zip.read(*order);
    MAE_CHECK(value == "little", source.origin(), ": byte order '", value,
              "' is not supported; save the checkpoint on a little-endian machine");
  }
  const Pickle pickle = parse_pickle(zip.read(*zip.find(prefix + "data.pkl")), source.origin() + ": " + prefix + "data.pkl");
  return StateDictReader(pickle, zip, prefix).read();
}

PthFile read_pth(const std::string& path) {
  const auto source = FileSource::open(path);
  return parse_pth(*source);
}

}  // namespace mae::io
