// Reading weights from a file of either format, told apart by its first bytes: safetensors, or a
// PyTorch checkpoint in torch.save's zip format (see pth.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mae/io/safetensors.h"

namespace mae::io {

struct WeightsFile {
  NamedTensors tensors;                          // source names, file order (sorted for safetensors)
  std::map<std::string, std::string> metadata;   // safetensors __metadata__, or the .pth's scalars
  std::string format;                            // "safetensors" or "pth"
  std::string state_dict_key;                    // .pth: "model", "state_dict", "module" or "" (top level)
  std::vector<std::string> notes;                // what the .pth reader skipped
};

// Throws mae::Error naming the file: unreadable, neither format, or malformed.
WeightsFile read_weights(const std::string& path);

}  // namespace mae::io
