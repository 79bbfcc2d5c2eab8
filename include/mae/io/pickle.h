// A safe reader of the pickles torch.save writes (data.pkl inside its zip archive). It is an
// interpreter of the pickle opcodes only: no Python exists here and nothing named in the pickle is
// ever called. Globals are kept as names; the few reconstructors torch.save uses
// (torch._utils._rebuild_tensor_v2, _rebuild_parameter, collections.OrderedDict, the storage
// persistent ids) are recognised by name and turned into plain values; every other object (an
// argparse.Namespace, a numpy scalar) becomes an opaque Object that keeps its class name and its
// BUILD state, for the caller to skip with a note.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mae::io {

struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kSet, kGlobal, kStorage, kTensor, kObject };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;     // kInt, kBool; kStorage: number of elements
  double float_value = 0.0;  // kFloat
  // kString / kBytes: the bytes; kGlobal: "module.name"; kObject: its class or constructor;
  // kStorage: the storage key (the zip entry data/<key>).
  std::string text;
  std::vector<size_t> items;  // kTuple/kList/kSet: elements; kDict: key, value, key, value, ...
                              // kObject: its BUILD state (0 or 1 item)
  std::string storage_type;   // kStorage: "FloatStorage", "HalfStorage", ...
  // kTensor: a strided view of a storage.
  size_t storage = 0;         // index of the kStorage value
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes, strides;
};

const char* kind_name(PickleValue::Kind kind);

// The values of one pickle, in an arena: values refer to each other by index, so shared and even
// cyclic references (which the memo allows) need no ownership games.
class Pickle {
 public:
  const PickleValue& at(size_t index) const { return values_.at(index); }
  size_t root() const { return root_; }
  size_t size() const { return values_.size(); }
  // The string of a kString value; throws mae::Error naming `what` otherwise.
  const std::string& string_at(size_t index, const std::string& what) const;

 private:
  friend class PickleMachine;
  std::vector<PickleValue> values_;
  size_t root_ = 0;
};

// Interprets the pickle in `bytes`. Throws mae::Error naming `origin`, the byte offset and the
// problem: an opcode outside the supported set, a truncated argument, a stack underflow, a memo
// miss, a persistent id that is not a torch storage.
Pickle parse_pickle(const std::string& bytes, const std::string& origin);

}  // namespace mae::io
