// Class folders of small PNGs and their WebDataset shards, for the integration tests of
// data.source=wds: 4 classes x 32 grey 16x16 images, packed into shards of ~16 samples.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/data/wds/pack.h"
#include "mae/io/png_writer.h"

namespace mae::testing {

// Writes <dir>/images/class<c>/<i>.png; returns the folder.
inline std::string write_class_folders(const std::string& dir) {
  torch::manual_seed(3);
  for (int c = 0; c < 4; ++c) {
    const std::string folder = dir + "/images/class" + std::to_string(c);
    std::filesystem::create_directories(folder);
    for (int i = 0; i < 32; ++i) {
      const auto image = torch::randint(0, 256, {16, 16, 1}, torch::kUInt8).add_(c * 40).clamp_(0, 255);
      io::write_png(folder + "/" + std::to_string(i) + ".png", image);
    }
  }
  return dir + "/images";
}

// Packs them into <dir>/shards/train-%04d.tar (with the index); returns the pack's result.
inline data::PackResult pack_class_folders(const std::string& dir) {
  data::PackOptions o;
  o.input = write_class_folders(dir);
  o.output = dir + "/shards/train-%04d.tar";
  o.shard_size = 40000;
  o.threads = 2;
  o.progress = false;
  return data::pack_shards(o);
}

// The settings that train from those shards (the folder holds only them).
inline std::vector<std::string> wds_settings(const std::string& dir) {
  return {"data.source=wds", "data.root=" + dir + "/shards", "data.train_files=.", "data.val_files=.", "data.wds_shuffle_buffer=20"};
}

}  // namespace mae::testing
