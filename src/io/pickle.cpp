#include "mae/io/pickle.h"

#include <cstring>
#include <unordered_map>

#include "mae/core/error.h"

namespace mae::io {

using Kind = PickleValue::Kind;

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kSet: return "set";
    case Kind::kGlobal: return "global";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
    case Kind::kObject: return "object";
  }
  return "?";
}

const std::string& Pickle::string_at(size_t index, const std::string& what) const {
  const PickleValue& v = at(index);
  MAE_CHECK(v.kind == Kind::kString, what, " is a ", kind_name(v.kind), ", expected a str");
  return v.text;
}

// The opcodes of pickle protocols 2 to 5 that torch.save and Python's pickler emit for dicts,
// lists, tuples, scalars, strings and objects. Protocol-0 text opcodes, extension registry codes
// and out-of-band buffers are refused.
class PickleMachine {
 public:
  PickleMachine(const std::string& bytes, const std::string& origin) : b_(bytes), origin_(origin) {}

  Pickle run() {
    while (true) {
      op_pos_ = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                       // PROTO
        case 0x95: take(8); break;                      // FRAME: a length hint only
        case '.':                                       // STOP
          out_.root_ = pop();
          return std::move(out_);
        case 'N': push_kind(Kind::kNone); break;
        case 0x88: push_int(Kind::kBool, 1); break;     // NEWTRUE
        case 0x89: push_int(Kind::kBool, 0); break;     // NEWFALSE
        case 'J': push_int(Kind::kInt, static_cast<int32_t>(uint_le(4))); break;  // BININT
        case 'K': push_int(Kind::kInt, static_cast<int64_t>(uint_le(1))); break;  // BININT1
        case 'M': push_int(Kind::kInt, static_cast<int64_t>(uint_le(2))); break;  // BININT2
        case 0x8a: long_int(uint_le(1)); break;         // LONG1
        case 0x8b: long_int(uint_le(4)); break;         // LONG4
        case 'G': binfloat(); break;                    // BINFLOAT
        case 'X': push_text(Kind::kString, uint_le(4)); break;     // BINUNICODE
        case 0x8c: push_text(Kind::kString, uint_le(1)); break;    // SHORT_BINUNICODE
        case 0x8d: push_text(Kind::kString, uint_le(8)); break;    // BINUNICODE8
        case 'T': push_text(Kind::kString, uint_le(4)); break;     // BINSTRING
        case 'U': push_text(Kind::kString, uint_le(1)); break;     // SHORT_BINSTRING
        case 'B': push_text(Kind::kBytes, uint_le(4)); break;      // BINBYTES
        case 'C': push_text(Kind::kBytes, uint_le(1)); break;      // SHORT_BINBYTES
        case 0x8e: case 0x96: push_text(Kind::kBytes, uint_le(8)); break;  // BINBYTES8, BYTEARRAY8
        case ')': push_kind(Kind::kTuple); break;       // EMPTY_TUPLE
        case ']': push_kind(Kind::kList); break;        // EMPTY_LIST
        case '}': push_kind(Kind::kDict); break;        // EMPTY_DICT
        case 0x8f: push_kind(Kind::kSet); break;        // EMPTY_SET
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case 't': push_items(Kind::kTuple, pop_mark()); break;  // TUPLE
        case 'l': push_items(Kind::kList, pop_mark()); break;   // LIST
        case 0x91: push_items(Kind::kSet, pop_mark()); break;   // FROZENSET
        case 'd': push_items(Kind::kDict, pairs(pop_mark())); break;  // DICT
        case 0x85: tuple_of(1); break;                  // TUPLE1
        case 0x86: tuple_of(2); break;                  // TUPLE2
        case 0x87: tuple_of(3); break;                  // TUPLE3
        case 'a': { const size_t v = pop(); add_items(top(), {v}, Kind::kList); break; }  // APPEND
        case 'e': { auto v = pop_mark(); add_items(top(), v, Kind::kList); break; }       // APPENDS
        case 's': { const size_t v = pop(), k = pop(); add_items(top(), {k, v}, Kind::kDict); break; }  // SETITEM
        case 'u': { auto v = pairs(pop_mark()); add_items(top(), v, Kind::kDict); break; }  // SETITEMS
        case 0x90: { auto v = pop_mark(); add_items(top(), v, Kind::kSet); break; }        // ADDITEMS
        case '0': pop(); break;                         // POP
        case '1': pop_mark(); break;                    // POP_MARK
        case '2': stack_.push_back(top()); break;       // DUP
        case 'q': memo_[uint_le(1)] = top(); break;     // BINPUT
        case 'r': memo_[uint_le(4)] = top(); break;     // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': get(uint_le(1)); break;               // BINGET
        case 'j': get(uint_le(4)); break;               // LONG_BINGET
        case 'c': {                                     // GLOBAL
          const std::string module = line();
          global(module, line());
          break;
        }
        case 0x93: {                                    // STACK_GLOBAL
          const size_t name = pop(), module = pop();
          global(string_of(module, "STACK_GLOBAL module"), string_of(name, "STACK_GLOBAL name"));
          break;
        }
        case 'R': { const size_t args = pop(), fn = pop(); stack_.push_back(call(fn, args, 0)); break; }  // REDUCE
        case 0x81: { pop(); stack_.push_back(instantiate(pop())); break; }  // NEWOBJ
        case 0x92: { pop(); pop(); stack_.push_back(instantiate(pop())); break; }  // NEWOBJ_EX
        case 'b': build(); break;                       // BUILD
        case 'Q': persistent_id(); break;               // BINPERSID
        default:
          fail(str("unsupported pickle opcode 0x", hex(op),
                   " (only the opcodes torch.save emits are understood; nothing is executed)"));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(str(origin_, ": pickle byte ", op_pos_, ": ", what));
  }
  static std::string hex(uint8_t v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[v >> 4], digits[v & 15]};
  }

  // --- input
  uint8_t byte() {
    if (pos_ >= b_.size()) fail("the pickle ends without STOP; the file is truncated");
    return static_cast<uint8_t>(b_[pos_++]);
  }
  uint64_t uint_le(int n) {
    const std::string bytes = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
    return v;
  }
  std::string take(uint64_t n) {
    if (n > b_.size() - pos_) fail(str("an argument of ", n, " bytes runs past the end of the pickle"));
    std::string out = b_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::string line() {
    const size_t end = b_.find('\n', pos_);
    if (end == std::string::npos) fail("a GLOBAL name is not terminated by a newline");
    std::string out = b_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }

  // --- stack and values
  size_t add(PickleValue v) {
    out_.values_.push_back(std::move(v));
    return out_.values_.size() - 1;
  }
  static PickleValue of(Kind kind, int64_t int_value = 0, std::string text = {}, std::vector<size_t> items = {}) {
    PickleValue v;
    v.kind = kind;
    v.int_value = int_value;
    v.text = std::move(text);
    v.items = std::move(items);
    return v;
  }
  void push(PickleValue v) { stack_.push_back(add(std::move(v))); }
  void push_kind(Kind kind) { push(of(kind)); }
  void push_int(Kind kind, int64_t value) { push(of(kind, value)); }
  void push_text(Kind kind, uint64_t n) { push(of(kind, 0, take(n))); }
  void push_items(Kind kind, std::vector<size_t> items) { push(of(kind, 0, {}, std::move(items))); }
  // The top of the stack; values below the last MARK belong to an enclosing container.
  size_t top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  size_t pop() {
    const size_t v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<size_t> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  std::vector<size_t> pairs(std::vector<size_t> items) {
    if (items.size() % 2 != 0) fail("a dict is built from an odd number of items");
    return items;
  }
  void tuple_of(size_t n) {
    std::vector<size_t> items(n);
    for (size_t i = n; i-- > 0;) items[i] = pop();
    push_items(Kind::kTuple, std::move(items));
  }
  const PickleValue& val(size_t i) const { return out_.values_[i]; }
  const std::string& string_of(size_t i, const char* what) {
    if (val(i).kind != Kind::kString) fail(str(what, " is a ", kind_name(val(i).kind), ", expected a str"));
    return val(i).text;
  }
  // Appends to a list, set or dict. Items given to an opaque object (a dict or list subclass)
  // are dropped with it.
  void add_items(size_t target, const std::vector<size_t>& items, Kind expected) {
    PickleValue& t = out_.values_[target];
    if (t.kind == Kind::kObject) return;
    if (t.kind != expected) fail(str("cannot add items to a ", kind_name(t.kind), " (expected a ", kind_name(expected), ")"));
    t.items.insert(t.items.end(), items.begin(), items.end());
  }
  void long_int(uint64_t n) {
    if (n > 8) fail(str("an integer of ", n, " bytes is too large"));
    const std::string bytes = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(bytes[n - 1]) & 0x80)) v |= ~0ull << (8 * n);  // sign-extend
    push_int(Kind::kInt, static_cast<int64_t>(v));
  }
  void binfloat() {
    const std::string bytes = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(bytes[i]);  // big-endian
    double d;
    std::memcpy(&d, &bits, sizeof d);
    PickleValue v = of(Kind::kFloat);
    v.float_value = d;
    push(std::move(v));
  }
  void get(uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail(str("memo entry ", key, " was never stored"));
    stack_.push_back(it->second);
  }
  void global(const std::string& module, const std::string& name) {
    push(of(Kind::kGlobal, 0, module + "." + name));
  }

  // --- objects: recognised by name, never called
  std::string callable_name(size_t fn) const {
    return val(fn).kind == Kind::kGlobal ? val(fn).text : std::string("<result of a call>");
  }
  size_t instantiate(size_t cls) {
    const std::string name = callable_name(cls);
    return add(of(name == "collections.OrderedDict" ? Kind::kDict : Kind::kObject, 0, name));
  }
  int64_t int_arg(size_t i, const char* what) {
    if (val(i).kind != Kind::kInt) fail(str(what, " is a ", kind_name(val(i).kind), ", expected an int"));
    return val(i).int_value;
  }
  std::vector<int64_t> int_tuple(size_t i, const char* what) {
    if (val(i).kind != Kind::kTuple) fail(str(what, " is a ", kind_name(val(i).kind), ", expected a tuple"));
    std::vector<int64_t> out;
    for (size_t item : val(i).items) out.push_back(int_arg(item, what));
    return out;
  }
  size_t call(size_t fn, size_t args, int depth) {
    const std::string name = callable_name(fn);
    if (val(args).kind != Kind::kTuple) fail(str("the arguments of ", name, " are a ", kind_name(val(args).kind)));
    const std::vector<size_t> a = val(args).items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4) fail(str(name, " takes at least 4 arguments, got ", a.size()));
      if (val(a[0]).kind != Kind::kStorage) fail(str(name, ": the first argument is a ", kind_name(val(a[0]).kind), ", not a storage"));
      PickleValue t = of(Kind::kTensor);
      t.storage = a[0];
      t.storage_offset = int_arg(a[1], "storage_offset");
      t.sizes = int_tuple(a[2], "size");
      t.strides = int_tuple(a[3], "stride");
      if (t.sizes.size() != t.strides.size()) fail(str(name, ": size has ", t.sizes.size(), " dims but stride ", t.strides.size()));
      return add(std::move(t));
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || val(a[0]).kind != Kind::kTensor) fail(str(name, " expects a tensor as its first argument"));
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {  // (func, type, args, state)
      if (a.size() < 3 || depth > 4) fail(str(name, " has too few arguments or nests too deeply"));
      return call(a[0], a[2], depth + 1);
    }
    if (name == "collections.OrderedDict") {
      PickleValue d = of(Kind::kDict);
      if (!a.empty()) {  // OrderedDict([(key, value), ...])
        const Kind k = val(a[0]).kind;
        if (k != Kind::kList && k != Kind::kTuple) fail("OrderedDict expects a list of pairs");
        for (size_t pair : val(a[0]).items) {
          if (val(pair).kind != Kind::kTuple || val(pair).items.size() != 2) fail("OrderedDict expects (key, value) pairs");
          d.items.push_back(val(pair).items[0]);
          d.items.push_back(val(pair).items[1]);
        }
      }
      return add(std::move(d));
    }
    return add(of(Kind::kObject, 0, name));
  }
  void build() {
    const size_t state = pop();
    PickleValue& target = out_.values_[top()];
    // Dict attributes (a state_dict's _metadata) and tensor state carry no weights: ignored.
    if (target.kind == Kind::kObject) target.items = {state};
  }
  // torch.save's persistent id: ('storage', <storage type>, key, location, numel).
  void persistent_id() {
    const size_t pid = pop();
    const PickleValue& t = val(pid);
    if (t.kind != Kind::kTuple || t.items.size() != 5 || val(t.items[0]).kind != Kind::kString ||
        val(t.items[0]).text != "storage") {
      fail("a persistent id that is not a torch storage ('storage', type, key, location, numel); "
           "this is not a torch.save checkpoint (TorchScript archives are not supported)");
    }
    const PickleValue& type = val(t.items[1]);
    if (type.kind != Kind::kGlobal || type.text.rfind("torch.", 0) != 0) fail("the storage type is not a torch global");
    PickleValue s = of(Kind::kStorage);
    s.storage_type = type.text.substr(6);
    s.text = string_of(t.items[2], "storage key");
    s.int_value = int_arg(t.items[4], "storage numel");
    if (s.int_value < 0) fail(str("storage '", s.text, "' has a negative size ", s.int_value));
    push(std::move(s));
  }

  const std::string& b_;
  const std::string& origin_;
  size_t pos_ = 0, op_pos_ = 0;
  Pickle out_;
  std::vector<size_t> stack_, marks_;
  std::unordered_map<uint64_t, size_t> memo_;
};

Pickle parse_pickle(const std::string& bytes, const std::string& origin) {
  return PickleMachine(bytes, origin).run();
}

}  // namespace mae::io
