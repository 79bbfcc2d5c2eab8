#include "mae/data/wds/wds_sample.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/core/parse.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/sources/file_source.h"

namespace mae::data {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}


int64_t parse_cls(std::string text, const std::string& where) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  int64_t label = -1;
  MAE_CHECK(core::parse_int(text, &label) && label >= 0, where, ": the cls member '", text.substr(0, 40),
            "' is not a label (an integer >= 0)");
  return label;
}

int64_t parse_json_label(const std::string& text, const std::string& field, const std::string& where) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  MAE_CHECK(!json.is_discarded() && json.is_object(), where, ": the json member is not a JSON object");
  const auto it = json.find(field);
  if (it == json.end()) return -1;
  MAE_CHECK(it->is_number_integer() && it->get<int64_t>() >= 0, where, ": json field '", field, "' is ", it->dump(),
            ", not a label (an integer >= 0); set data.wds_label_field to the field holding the class index");
  return it->get<int64_t>();
}

std::shared_ptr<const io::FileSource> open_shard(const std::string& path) {
  try {
    return io::FileSource::open(path);
  } catch (const Error& e) {
    throw UsageError(str("shard: ", e.what()));
  }
}

}  // namespace

bool split_member_name(const std::string& name, std::string* key, std::string* extension) {
  const size_t slash = name.rfind('/');
  const size_t dot = name.find('.', slash == std::string::npos ? 0 : slash + 1);
  if (dot == std::string::npos || dot + 1 == name.size()) return false;
  *key = name.substr(0, dot);
  const size_t last = name.rfind('.');
  *extension = name.substr(last + 1);  // "x.seg.png" -> "png", as webdataset's decoders match the suffix
  return true;
}

void WdsSample::load_image() {
  if (!image.empty() || image_size == 0) return;
  try {
    image = shard->read_string(image_offset, image_size, "image of sample " + key);
  } catch (const DataError&) {
    throw;
  } catch (const Error& e) {
    throw DataError(e.what());
  }
}

RawImage WdsSample::take_image() {
  if (!problem.empty()) throw DataError(problem);
  if (image_size == 0) throw DataError(describe() + ": the sample has no jpg, jpeg, png or webp member");
  MAE_CHECK(!image.empty(), "WdsSample::take_image before load_image (", describe(), ")");
  return parse_image(std::move(image), describe());
}

WdsShardReader::WdsShardReader(const std::string& path, std::string label_field)
    : file_(open_shard(path)), path_(path), label_field_(std::move(label_field)), tar_(*file_) {}

bool WdsShardReader::next_member(io::TarMember* member) {
  if (has_pending_) {
    *member = pending_;
    has_pending_ = false;
    return true;
  }
  if (done_) return false;
  try {
    while (tar_.next(member)) {
      if (member->is_file()) return true;
    }
  } catch (const Error& e) {
    error_ = e.what();
  }
  done_ = true;
  return false;
}

bool WdsShardReader::next(WdsSample* out, bool read_image) {
  io::TarMember member;
  std::string key, ext;
  // Members without an extension (no dot) belong to no sample.
  while (next_member(&member)) {
    if (split_member_name(member.name, &key, &ext)) break;
  }
  if (key.empty()) return false;
  *out = WdsSample{};
  out->key = key;
  out->shard = file_;
  out->shard_path = path_;
  out->ordinal = ordinal_++;
  int64_t cls = -1, json_label = -1;
  while (true) {
    const std::string kind = lower(ext);
    const std::string where = path_ + "#" + member.name;
    try {
      if (has_image_extension("." + kind) && out->image_size == 0) {
        out->image_offset = member.offset;
        out->image_size = member.size;
      } else if (kind == "cls") {
        cls = parse_cls(file_->read_string(member.offset, member.size, "cls member"), where);
      } else if (kind == "json" && !label_field_.empty() && member.size > 0) {
        json_label = parse_json_label(file_->read_string(member.offset, member.size, "json member"), label_field_, where);
      }
    } catch (const Error& e) {  // a label that cannot be read: the sample is unreadable
      out->problem = e.what();
    }
    std::string next_key, next_ext;
    if (!next_member(&member)) break;
    if (!split_member_name(member.name, &next_key, &next_ext) || next_key != key) {
      pending_ = member;
      has_pending_ = true;
      break;
    }
    ext = next_ext;
  }
  out->label = cls >= 0 ? cls : json_label;
  if (read_image) out->load_image();
  return true;
}

}  // namespace mae::data
