// libFuzzer target: a torch.save checkpoint from arbitrary bytes through the whole path a user's
// file takes: zip reader, pickle interpreter, tensor views, then loading into a small MAE model
// (key schemes, pos_embed and channel adaptation, the report). Only mae::Error may come out.
#include <cstddef>
#include <cstdint>

#include "mae/core/error.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/pth.h"
#include "mae/models/mae_vit.h"

namespace {

mae::models::MaskedAutoencoderViT& model() {
  static mae::models::MaskedAutoencoderViT m = [] {
    mae::models::MaeViTOptions o;
    o.img_h = 16, o.img_w = 16, o.patch_size = 8, o.in_chans = 1;
    o.embed_dim = 8, o.depth = 1, o.num_heads = 2;
    o.decoder_embed_dim = 8, o.decoder_depth = 1, o.decoder_num_heads = 2;
    return mae::models::MaskedAutoencoderViT(o);
  }();
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mae::io::MemorySource source(data, size, "fuzz.pth");
    const mae::io::PthFile file = mae::io::parse_pth(source);
    for (const auto& [name, t] : file.tensors) (void)t.sum();  // touch every element of every view
    mae::weights::LoadOptions options;
    options.non_strict = true;
    options.reinit_mismatched_head = true;
    (void)mae::weights::load_state_dict(*model(), file.tensors, options).to_string();
  } catch (const mae::Error&) {
  }
  return 0;
}
