#include "mae/io/weights_file.h"

#include "mae/core/error.h"
#include "mae/io/pth.h"
#include "mae/io/zip_reader.h"

namespace mae::io {

WeightsFile read_weights(const std::string& path) {
  WeightsFile out;
  {
    const auto source = FileSource::open(path);
    if (looks_like_zip(*source)) {
      PthFile pth = parse_pth(*source);
      out.tensors = std::move(pth.tensors);
      out.metadata = std::move(pth.metadata);
      out.state_dict_key = std::move(pth.state_dict_key);
      out.notes = std::move(pth.notes);
      out.format = "pth";
      return out;
    }
    const std::string head = source->read_string(0, std::min<uint64_t>(source->size(), 9), "file header");
    // safetensors: an 8-byte little-endian header length, then the JSON header. Its first byte may
    // be 0x80 (a header of 128 + 256k bytes), so it is recognised before the pickle test.
    const bool safetensors = head.size() == 9 && head[8] == '{';
    MAE_CHECK(safetensors || head.empty() || static_cast<unsigned char>(head[0]) != 0x80, path,
              ": a PyTorch checkpoint in the legacy format (before PyTorch 1.6); load it in PyTorch and save it "
              "again with torch.save, or convert it to safetensors");
    MAE_CHECK(safetensors, path, ": neither safetensors nor a torch.save zip archive; give a .safetensors or .pth file");
  }
  SafetensorsFile st = read_safetensors(path);
  for (auto& [name, t] : st.tensors) out.tensors.emplace_back(name, t);
  out.metadata = std::move(st.metadata);
  out.format = "safetensors";
  return out;
}

}  // namespace mae::io
