// PyTorch checkpoints written by torch.save (the zip format of PyTorch >= 1.6):
// <archive>/data.pkl (the pickled object), <archive>/data/<key> (one file per storage),
// <archive>/byteorder, <archive>/version. Read without executing anything (see pickle.h).
// The state dict is found as the official and timm code wraps it: under "model", "state_dict" or
// "module", or at the top level. Other top-level entries become metadata or notes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mae/io/byte_source.h"
#include "mae/io/safetensors.h"

namespace mae::io {

struct PthFile {
  NamedTensors tensors;        // the state dict, in file order (CPU tensors; views may share storage)
  std::string state_dict_key;  // "model", "state_dict", "module", or "" when at the top level
  // Top-level scalars ("epoch" -> "3") and the scalar fields of skipped objects and dicts
  // ("args.norm_pix_loss" -> "True").
  std::map<std::string, std::string> metadata;
  std::vector<std::string> notes;  // what was skipped, and why
};

// Throws mae::Error naming the file and the first problem.
PthFile read_pth(const std::string& path);
// The same from any byte source (a MemorySource for tests and the fuzz target).
PthFile parse_pth(const ByteSource& source);

}  // namespace mae::io
