// Builders for the interop tests: stored zip archives, hand-written pickles, torch.save-style
// checkpoints in memory, and the tiny model sizes of tests/fixtures/interop.
#pragma once

#include <zlib.h>

#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/weights/load_report.h"
#include "mae/io/safetensors.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"

namespace mae::testing {

inline std::string interop_fixture(const std::string& name) { return std::string(MAE_FIXTURE_DIR) + "/interop/" + name; }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void put_le(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void patch_le(std::string* bytes, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) (*bytes)[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A zip archive of stored entries, as torch.save writes (without ZIP64 records).
inline std::string zip_of(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = static_cast<uint32_t>(::crc32_z(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    const size_t local = out.size();
    put_le(&out, 0x04034b50, 4);
    put_le(&out, 20, 2), put_le(&out, 0, 2), put_le(&out, 0, 2), put_le(&out, 0, 4);  // version, flags, method, time+date
    put_le(&out, crc, 4), put_le(&out, data.size(), 4), put_le(&out, data.size(), 4);
    put_le(&out, name.size(), 2), put_le(&out, 0, 2);
    out += name + data;
    put_le(&central, 0x02014b50, 4);
    put_le(&central, 20, 2), put_le(&central, 20, 2), put_le(&central, 0, 2), put_le(&central, 0, 2), put_le(&central, 0, 4);
    put_le(&central, crc, 4), put_le(&central, data.size(), 4), put_le(&central, data.size(), 4);
    put_le(&central, name.size(), 2), put_le(&central, 0, 2), put_le(&central, 0, 2);  // name, extra, comment
    put_le(&central, 0, 2), put_le(&central, 0, 2), put_le(&central, 0, 4), put_le(&central, local, 4);
    central += name;
  }
  const size_t cd_offset = out.size();
  out += central;
  put_le(&out, 0x06054b50, 4);
  put_le(&out, 0, 2), put_le(&out, 0, 2), put_le(&out, entries.size(), 2), put_le(&out, entries.size(), 2);
  put_le(&out, central.size(), 4), put_le(&out, cd_offset, 4), put_le(&out, 0, 2);
  return out;
}

// Pickle opcodes written by hand (protocol 2, as torch.save writes).
struct PickleWriter {
  std::string b = "\x80\x02";
  PickleWriter& op(char c) { b += c; return *this; }
  PickleWriter& text(const std::string& s) { b += 'X'; put_le(&b, s.size(), 4); b += s; return *this; }
  PickleWriter& int1(uint8_t v) { b += 'K'; b += static_cast<char>(v); return *this; }
  PickleWriter& int4(int32_t v) { b += 'J'; put_le(&b, static_cast<uint32_t>(v), 4); return *this; }
  PickleWriter& global(const std::string& module, const std::string& name) { b += 'c' + module + "\n" + name + "\n"; return *this; }
  PickleWriter& ints(std::initializer_list<int> values) {
    op('(');
    for (int v : values) int4(v);
    return op('t');
  }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, sizes, strides, False, OrderedDict())
  PickleWriter& tensor(const std::string& type, const std::string& key, int numel, int offset,
                       std::initializer_list<int> sizes, std::initializer_list<int> strides) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').text("storage").global("torch", type).text(key).text("cpu").int4(numel).op('t').op('Q');
    int4(offset).ints(sizes).ints(strides).op('\x89').global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  std::string done() const { return b + "."; }
};

// A torch.save archive "archive/..." holding `pickle` and storages data/<key>.
inline std::string pth_of(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                          const std::string& byteorder = "little") {
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pickle},
                                                              {"archive/byteorder", byteorder}};
  for (const auto& [key, data] : storages) entries.emplace_back("archive/data/" + key, data);
  entries.emplace_back("archive/version", "3\n");
  return zip_of(entries);
}

inline std::string floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

// The sizes of tests/fixtures/interop (make_interop_fixtures.py: TINY, TINY_DECODER).
inline models::MaeViTOptions tiny_mae(int64_t in_chans = 3, int64_t img_h = 32, int64_t img_w = 32) {
  models::MaeViTOptions o;
  o.img_h = img_h, o.img_w = img_w, o.patch_size = 8, o.in_chans = in_chans;
  o.embed_dim = 32, o.depth = 2, o.num_heads = 4;
  o.decoder_embed_dim = 16, o.decoder_depth = 1, o.decoder_num_heads = 2;
  return o;
}
inline models::VisionTransformerOptions tiny_vit(bool global_pool, int64_t num_classes = 5, int64_t img_h = 32,
                                                 int64_t img_w = 32) {
  models::VisionTransformerOptions o;
  o.img_h = img_h, o.img_w = img_w, o.patch_size = 8, o.in_chans = 3, o.num_classes = num_classes;
  o.embed_dim = 32, o.depth = 2, o.num_heads = 4, o.global_pool = global_pool;
  return o;
}

// A model's parameters and buffers, detached copies, in registration order.
inline io::NamedTensors state_of(torch::nn::Module& model) {
  io::NamedTensors out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value().detach().clone());
  return out;
}

// True when one of the report's notes contains `text`.
inline bool has_note(const weights::LoadReport& report, const std::string& text) {
  for (const auto& n : report.notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

// The message of the mae::Error `f` throws ("" when it does not throw).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const mae::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace mae::testing
