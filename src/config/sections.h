// The config keys of each section, bound to the typed option structs of the area that owns them
// (config/fields.h). Private to the settings edge: only src/config/ includes this.
#pragma once

#include <string>

#include "mae/config/fields.h"
#include "mae/data/factory.h"
#include "mae/data/augment/mixup.h"
#include "mae/models/mae_vit.h"
#include "mae/models/vision_transformer.h"
#include "mae/tasks/knn_monitor.h"
#include "mae/tasks/segment.h"
#include "mae/train/trainer.h"

namespace mae::config {

// model.* as written in a config: a preset name plus overrides, where 0 means "the preset's".
// The name carries the architecture (models/presets.h), so a resolved config writes the name that
// describes the model and leaves the sizes at 0.
struct EncoderKeys {
  std::string name;
  int64_t img_size = 224, img_h = 0, img_w = 0, in_chans = 3;
  int64_t patch_size = 0, embed_dim = 0, depth = 0, num_heads = 0;
  double mlp_ratio = 4.0;
  bool fused_attn = true;
};
struct MaeKeys : EncoderKeys {
  int64_t decoder_embed_dim = 0, decoder_depth = 0, decoder_num_heads = 0;
  bool norm_pix_loss = true;
  double mask_ratio = 0.75;
};
struct VitKeys : EncoderKeys {
  bool global_pool = true;
  double drop_path = 0.1;
  int64_t num_classes = 0;
  bool probe_head = false;
};

// The segmenter: its encoder (model.img_size is the crop size) and head.
struct SegKeys : EncoderKeys {
  double drop_path = 0.1;
  int64_t num_classes = 0;
  models::SegHead head = models::SegHead::kUPerNet;
  int64_t channels = 512, aux_channels = 256;
  double aux_weight = 0.4;
  std::vector<double> out_indices;  // block numbers from 0; empty: evenly spaced (mmseg's)
};

MaeKeys mae_keys(const models::MaeViTOptions& o, double mask_ratio);
models::MaeViTOptions mae_options(const MaeKeys& k);  // validated
VitKeys vit_keys(const models::VisionTransformerOptions& o);
models::VisionTransformerOptions vit_options(const VitKeys& k);  // validated

SegKeys seg_keys(const models::SegmenterOptions& o);
models::SegmenterOptions segmenter_options(const SegKeys& k);  // validated

void bind(Fields& f, MaeKeys& k);
void bind(Fields& f, SegKeys& k);
void bind(Fields& f, tasks::SegmentDataOptions& o);
void bind(Fields& f, VitKeys& k);
void bind(Fields& f, data::DataOptions& o);
void bind(Fields& f, data::MixupOptions& o);
void bind(Fields& f, train::TrainerOptions& o);
void bind(Fields& f, tasks::KnnOptions& o);

}  // namespace mae::config
