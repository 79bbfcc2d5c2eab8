// One WebDataset sample and the reader of one shard. A sample is the run of consecutive tar members
// that share a key (the member's path up to the first dot of its file name): the image (`jpg`,
// `jpeg` or `png`, any case) and an optional label, `cls` (an integer as text) or a `json` object's
// integer field (data.wds_label_field). Other members (`txt`, `__key__`, ...) are ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mae/data/codecs/image.h"
#include "mae/io/byte_source.h"
#include "mae/io/tar_reader.h"

namespace mae::data {

struct WdsSample {
  std::string key;
  std::shared_ptr<const io::FileSource> shard;  // the open shard file the image lies in
  std::string shard_path;
  uint64_t image_offset = 0, image_size = 0;  // image_size 0: the sample has no image member
  std::string image;                          // the image's bytes once read (load_image)
  int64_t label = -1;                         // -1 when unlabelled
  int64_t ordinal = 0;                        // position of the sample in its shard
  std::string problem;                        // why the sample is unreadable (a bad label), "" when fine
  bool has_image() const { return image_size > 0; }
  // Reads the image's bytes (once). Throws DataError when the shard cannot be read there (the file
  // shrank since it was opened).
  void load_image();
  // The image as the decoders take it, its bytes moved out of the sample (after load_image);
  // throws DataError when it is missing or not an image.
  RawImage take_image();
  std::string describe() const { return shard_path + "#" + key; }
};

// The samples of one shard in order. A member that breaks the archive (a truncated shard, a bad
// header) ends the shard: truncated() says so and why; the samples before it stay valid.
class WdsShardReader {
 public:
  // Opens `path`; throws UsageError when it cannot be opened. label_field: the json field holding
  // the label ("" ignores json members).
  WdsShardReader(const std::string& path, std::string label_field);
  // The next sample, its image read when read_image (else only its place); false at the end.
  bool next(WdsSample* out, bool read_image);
  bool truncated() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  bool next_member(io::TarMember* member);
  std::shared_ptr<const io::FileSource> file_;
  std::string path_, label_field_;
  io::TarReader tar_;
  io::TarMember pending_;
  bool has_pending_ = false, done_ = false;
  int64_t ordinal_ = 0;
  std::string error_;
};

// "dir/n01440764_10026.JPEG" -> key "dir/n01440764_10026", extension "JPEG"; false without a dot.
bool split_member_name(const std::string& name, std::string* key, std::string* extension);

}  // namespace mae::data
