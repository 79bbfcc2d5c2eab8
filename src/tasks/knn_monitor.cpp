#include "mae/tasks/knn_monitor.h"

#include "mae/core/error.h"
#include "mae/data/factory.h"
#include "mae/data/sources/subset_source.h"
#include "mae/eval/knn.h"
#include "mae/weights/key_schemes.h"
#include "mae/weights/load_state_dict.h"

namespace mae::tasks {

void KnnOptions::validate() const {
  MAE_CHECK_USAGE(every >= 0, "knn.every must be >= 0 (0: off), got ", every);
  MAE_CHECK_USAGE(k > 0, "knn.k must be positive, got ", k);
  MAE_CHECK_USAGE(temperature > 0, "knn.temperature must be positive, got ", temperature);
  MAE_CHECK_USAGE(train_samples >= 0 && val_samples >= 0, "knn.train_samples and knn.val_samples must be >= 0 (0: all)");
}

eval::ClassificationMetrics knn_accuracy(const eval::ForwardFn& features, const KnnOptions& knn, const data::DataOptions& data,
                                         data::Splits& splits, int64_t in_chans, int64_t img_h, int64_t img_w,
                                         const torch::Device& device, int64_t* bank_size) {
  const int64_t classes = splits.num_classes(data::Split::kTrain);
  MAE_CHECK_USAGE(classes > 0, "k-NN needs labelled data: the train split has no labels");
  const auto transform = std::make_shared<const data::SampleTransform>(
      data::transform_options(data, data::Split::kVal, in_chans, img_h, img_w));
  auto extract = [&](const std::shared_ptr<const data::Source>& base, int64_t count) {
    auto subset = std::make_shared<data::SubsetSource>(base, data::evenly_spaced(base->size(), count));
    data::LoaderOptions lo = data::loader_options(data, data::Split::kVal);
    lo.batch_size = 256;
    data::Loader loader(subset, transform, lo);
    return eval::extract_features(features, loader, device);
  };
  const auto bank = extract(splits.get(data::Split::kTrain), knn.train_samples);
  const auto queries = extract(splits.get(data::Split::kVal), knn.val_samples);
  if (bank_size != nullptr) *bank_size = bank.features.size(0);
  eval::KnnOptions o;
  o.k = knn.k;
  o.temperature = knn.temperature;
  return eval::knn_classify(bank, queries, classes, o);
}

models::VisionTransformer encoder_as_vit(models::MaskedAutoencoderViT& mae, bool global_pool) {
  const auto& m = mae->options();
  models::VisionTransformerOptions o;
  o.img_h = m.img_h, o.img_w = m.img_w, o.patch_size = m.patch_size, o.in_chans = m.in_chans;
  o.embed_dim = m.embed_dim, o.depth = m.depth, o.num_heads = m.num_heads, o.mlp_ratio = m.mlp_ratio;
  o.norm_eps = m.norm_eps, o.fused_attn = m.fused_attn, o.num_classes = 0, o.global_pool = global_pool;
  models::VisionTransformer vit(o);
  copy_encoder(mae, vit);
  vit->to(mae->pos_embed.device());
  vit->eval();
  return vit;
}

void copy_encoder(models::MaskedAutoencoderViT& mae, models::VisionTransformer& vit) {
  io::NamedTensors all;
  for (const auto& kv : mae->named_parameters()) all.emplace_back(kv.key(), kv.value().detach());
  weights::LoadOptions load;
  load.non_strict = true;  // mean pooling: the MAE's norm has no place, fc_norm stays the identity
  weights::load_state_dict(*vit, weights::select_encoder(all), load);
}

}  // namespace mae::tasks
