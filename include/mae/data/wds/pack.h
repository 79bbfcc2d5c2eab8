// `mae pack`: writes an image set as WebDataset tar shards once, so that training reads a few large
// sequential files instead of one file per image. Each sample is `<key>.jpg` (or `.png`) and, when
// labelled, `<key>.cls` (the class index as text); keys are the sample's number in the written order
// (zero-padded, no dots). Images are copied as they are, or re-encoded as JPEG when their longer
// side exceeds max_side (as FFCV's ImageNet files). An index beside the shards (shard_index_path)
// lists each shard's samples and bytes and the class names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mae/core/choice.h"
#include "mae/data/wds/wds_shards.h"

namespace mae::data {

// What --input is; auto: class folders when it is a folder that holds only folders.
enum class PackInput { kAuto, kClassFolder, kFolder, kList };
inline constexpr core::Choice<PackInput> kPackInputNames[] = {
    {PackInput::kAuto, "auto"}, {PackInput::kClassFolder, "class_folder"}, {PackInput::kFolder, "folder"},
    {PackInput::kList, "list"}};

struct PackOptions {
  std::string input;                 // class folders, a folder, or a list file (`path [label]` lines)
  PackInput input_kind = PackInput::kAuto;
  std::string output = "shards/train-%06d.tar";  // printf pattern with one integer conversion
  uint64_t shard_size = uint64_t{1} << 30;       // bytes per shard at most (a bigger single sample gets its own)
  int64_t max_side = 0;              // > 0: re-encode images whose longer side exceeds it
  int quality = 90;                  // JPEG quality of re-encoded images
  int threads = 0;                   // 0: one per core available
  bool shuffle = true;               // write the samples in a random order (seed) so shards mix classes
  uint64_t seed = 0;
  bool progress = true;              // a progress line on stderr
  void validate() const;             // throws UsageError naming the option
};

struct PackResult {
  ShardSet shards;          // the written shards with their counts
  std::string index_path;
  int64_t skipped = 0;      // unreadable inputs, each named in a warning
  int64_t reencoded = 0;
  uint64_t input_bytes = 0, output_bytes = 0;
  double seconds = 0;
};

PackResult pack_shards(const PackOptions& options);

}  // namespace mae::data
