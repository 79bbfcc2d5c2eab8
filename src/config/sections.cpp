#include "sections.h"

#include "mae/core/error.h"
#include "mae/models/presets.h"

namespace mae::config {
namespace {

void bind_encoder(Fields& f, EncoderKeys& k) {
  f("model.img_size", k.img_size, "square input size in pixels");
  f("model.img_h", k.img_h, "input height (0: img_size)");
  f("model.img_w", k.img_w, "input width (0: img_size)");
  f("model.in_chans", k.in_chans, "input channels (1 for grey images)");
  f("model.patch_size", k.patch_size, "patch size (0: the preset's)");
  f("model.embed_dim", k.embed_dim, "encoder width (0: the preset's)");
  f("model.depth", k.depth, "encoder blocks (0: the preset's)");
  f("model.num_heads", k.num_heads, "encoder heads (0: the preset's)");
  f("model.mlp_ratio", k.mlp_ratio, "MLP hidden width / width");
  f("model.fused_attn", k.fused_attn,
    "the fastest attention path per call: scaled_dot_product_attention on CUDA; on CPU it or one explicit-matmul node, by "
    "length, head dim and dtype as measured (false: the official code's ATen ops, the reference)");
}

// A size key overrides the preset when positive.
void override_size(const char* key, int64_t value, int64_t* field) {
  MAE_CHECK_USAGE(value >= 0, key, " must be >= 0 (0: the preset's), got ", value);
  if (value > 0) *field = value;
}

template <typename Options>
void apply_encoder(const EncoderKeys& k, Options* o) {
  MAE_CHECK_USAGE(k.img_size > 0, "model.img_size must be positive, got ", k.img_size);
  o->img_h = o->img_w = k.img_size;
  override_size("model.img_h", k.img_h, &o->img_h);
  override_size("model.img_w", k.img_w, &o->img_w);
  o->in_chans = k.in_chans;
  override_size("model.patch_size", k.patch_size, &o->patch_size);
  override_size("model.embed_dim", k.embed_dim, &o->embed_dim);
  override_size("model.depth", k.depth, &o->depth);
  override_size("model.num_heads", k.num_heads, &o->num_heads);
  o->mlp_ratio = k.mlp_ratio;
  o->fused_attn = k.fused_attn;
}

template <typename Options>
void encoder_keys(const Options& o, EncoderKeys* k) {
  k->img_size = o.img_h;
  k->img_h = o.img_h == o.img_w ? 0 : o.img_h;
  k->img_w = o.img_h == o.img_w ? 0 : o.img_w;
  k->in_chans = o.in_chans;
  k->mlp_ratio = o.mlp_ratio;
  k->fused_attn = o.fused_attn;
}

}  // namespace

MaeKeys mae_keys(const models::MaeViTOptions& o, double mask_ratio) {
  MaeKeys k;
  k.name = models::mae_name(o);
  encoder_keys(o, &k);
  k.norm_pix_loss = o.norm_pix_loss;
  k.mask_ratio = mask_ratio;
  return k;
}

models::MaeViTOptions mae_options(const MaeKeys& k) {
  models::MaeViTOptions o = models::mae_preset(k.name);
  apply_encoder(k, &o);
  override_size("model.decoder_embed_dim", k.decoder_embed_dim, &o.decoder_embed_dim);
  override_size("model.decoder_depth", k.decoder_depth, &o.decoder_depth);
  override_size("model.decoder_num_heads", k.decoder_num_heads, &o.decoder_num_heads);
  o.norm_pix_loss = k.norm_pix_loss;
  o.validate();
  return o;
}

VitKeys vit_keys(const models::VisionTransformerOptions& o) {
  VitKeys k;
  k.name = models::vit_name(o);
  encoder_keys(o, &k);
  k.global_pool = o.global_pool;
  k.drop_path = o.drop_path_rate;
  k.num_classes = o.num_classes;
  k.probe_head = o.probe_head;
  return k;
}

models::VisionTransformerOptions vit_options(const VitKeys& k) {
  models::VisionTransformerOptions o;
  if (k.name.rfind("mae_", 0) == 0) {  // a pretraining preset names its encoder
    const models::MaeViTOptions m = models::mae_preset(k.name);
    o.embed_dim = m.embed_dim, o.depth = m.depth, o.num_heads = m.num_heads, o.patch_size = m.patch_size;
  } else {
    o = models::vit_preset(k.name);
  }
  apply_encoder(k, &o);
  o.global_pool = k.global_pool;
  o.drop_path_rate = k.drop_path;
  MAE_CHECK_USAGE(k.num_classes >= 0, "model.num_classes must be >= 0 (0: from the data), got ", k.num_classes);
  o.num_classes = k.num_classes;
  o.probe_head = k.probe_head;
  o.validate();
  return o;
}

SegKeys seg_keys(const models::SegmenterOptions& o) {
  SegKeys k;
  k.name = models::vit_name(o.encoder);
  encoder_keys(o.encoder, &k);
  k.drop_path = o.encoder.drop_path_rate;
  k.num_classes = o.num_classes;
  k.head = o.head;
  k.channels = o.channels, k.aux_channels = o.aux_channels;
  k.aux_weight = o.aux_weight;
  k.out_indices.assign(o.out_indices.begin(), o.out_indices.end());
  return k;
}

models::SegmenterOptions segmenter_options(const SegKeys& k) {
  VitKeys vit;
  static_cast<EncoderKeys&>(vit) = k;
  vit.drop_path = k.drop_path;
  vit.num_classes = 0;
  models::SegmenterOptions o;
  o.encoder = vit_options(vit);
  o.num_classes = k.num_classes;
  o.head = k.head;
  o.channels = k.channels, o.aux_channels = k.aux_channels;
  o.aux_weight = k.aux_weight;
  o.out_indices.clear();
  for (double block : k.out_indices) {
    MAE_CHECK_USAGE(block == static_cast<double>(static_cast<int64_t>(block)), "model.out_indices: ", block,
                    " is not a block number");
    o.out_indices.push_back(static_cast<int64_t>(block));
  }
  return o;
}

void bind(Fields& f, SegKeys& k) {
  f("model.name", k.name, "the encoder: vit_<size>_patch<P> (or mae_vit_...: its encoder)");
  bind_encoder(f, k);
  f("model.drop_path", k.drop_path, "stochastic depth rate of the last block (mmseg's ADE20K recipe: 0.1)");
  f("model.num_classes", k.num_classes, "classes (150 for ADE20K; 0: one per line of data.class_names_file)");
  f("model.head", k.head, models::kSegHeadNames,
    "UPerNet on four blocks (the paper's ADE20K setup), or one BatchNorm + 1x1 conv on the last (a quick probe)");
  f("model.channels", k.channels, "UPerNet width (mmseg: 768 for ViT-B)");
  f("model.aux_channels", k.aux_channels, "the auxiliary FCN head's width");
  f("model.aux_weight", k.aux_weight, "weight of the auxiliary head's loss (0: no auxiliary head)");
  f("model.out_indices", k.out_indices, "the blocks (from 0) whose outputs feed the head (empty: 3,5,7,11 for depth 12)");
}

void bind(Fields& f, tasks::SegmentDataOptions& o) {
  auto& t = o.transform;
  f("data.layout", o.layout, tasks::kPairLayoutNames,
    "ade20k: images/<split>/X.jpg with annotations/<split>/X.png; list: files of `image labels` lines");
  f("data.root", o.root, "the folder that holds the pairs (ADE20K: ADEChallengeData2016)");
  f("data.train_files", o.train_files, "ade20k: the split folder (training); list: list files");
  f("data.val_files", o.val_files, "the same for the validation split (empty: none)");
  f("data.reduce_zero_label", o.reduce_zero_label, "label 0 is not scored and k becomes k - 1 (ADE20K's \"other\")");
  f("data.class_names_file", o.class_names_file, "one class name per line, in label order (after reduce_zero_label)");
  f("data.pixel_range", t.pixel_range, "pixel value that becomes 1 before data.mean/std (0: by type)");
  f("data.mean", t.mean, "per-channel mean of pixel / pixel_range (ImageNet's by default)");
  f("data.std", t.std, "per-channel std of pixel / pixel_range");
  f("data.hflip", t.hflip, "horizontal flip probability (train)");
  f("data.num_workers", o.num_workers, "loader threads (0: one per core available)");
  f("data.prefetch_batches", o.prefetch_batches, "batches prepared ahead of the trainer");
  f("seg.scale", t.scale_long, t.scale_short, "[long, short]: images are fitted into these sides (ADE20K: 2048, 512)");
  f("seg.ratio_range", t.ratio_min, t.ratio_max, "train: seg.scale times a ratio drawn from [min, max]");
  f("seg.cat_max_ratio", t.cat_max_ratio, "train: crops are drawn again (10 tries) while one class covers more (1: off)");
  f("seg.photometric", t.photometric, "train: brightness, contrast, saturation and hue distortion of 8-bit images");
}

void bind(Fields& f, MaeKeys& k) {
  f("model.name", k.name, "preset: mae_vit_<size>_patch<P>[_dec<D>d<B>b[<H>h]], size mini/tiny/small/base/large/huge "
                          "or <W>d<D>b<H>h");
  bind_encoder(f, k);
  f("model.decoder_embed_dim", k.decoder_embed_dim, "decoder width (0: the preset's)");
  f("model.decoder_depth", k.decoder_depth, "decoder blocks (0: the preset's)");
  f("model.decoder_num_heads", k.decoder_num_heads, "decoder heads (0: the preset's)");
  f("model.norm_pix_loss", k.norm_pix_loss, "normalise each target patch by its mean and variance");
  f("model.mask_ratio", k.mask_ratio, "share of patches removed");
}

void bind(Fields& f, VitKeys& k) {
  f("model.name", k.name, "preset: vit_<size>_patch<P> (or mae_vit_...: its encoder)");
  bind_encoder(f, k);
  f("model.global_pool", k.global_pool, "average the patch tokens + fc_norm (false: cls token after norm)");
  f("model.drop_path", k.drop_path, "stochastic depth rate of the last block (rises linearly from 0)");
  f("model.num_classes", k.num_classes, "classes of the head (0: from the data)");
  f("model.probe_head", k.probe_head, "head = BatchNorm1d(affine=False) + Linear, as the linear probe");
}

void bind(Fields& f, data::DataOptions& o) {
  auto& s = o.source;
  auto& t = o.transform;
  f("data.source", s.kind, data::kSourceKindNames, "where samples come from (wds: WebDataset tar shards)");
  f("data.root", s.root, "folder that data.train_files / data.val_files and list entries are relative to");
  f("data.train_files", s.train_files,
    "training files: idx images[,labels]; cifar batch files; list files; the folder for folder/class_folder "
    "(empty: data.root); wds: shard patterns (train-{000000..000146}.tar), a list of shards or a folder of .tar");
  f("data.val_files", s.val_files, "the same for the validation split (empty: none)");
  f("data.num_classes", s.num_classes, "number of classes; 0 takes it from the data (labels must lie below it)");
  f("data.class_names_file", s.class_names_file, "text file with one class name per line (empty: the set's own or built-in names)");
  f("data.wds_label_field", s.wds_label_field,
    "wds: the field of a sample's json member that holds its label when it has no cls member (empty: ignore json)");
  f("data.array_layout", s.array_layout, data::kArrayLayoutNames,
    "npy, npy_files: where arrays keep channels (auto: the smaller of first and last image dim)");
  f("data.pixel_range", t.pixel_range,
    "pixel value that becomes 1 before data.mean/std (0: by type: 255 uint8, 65535 uint16, 32767 int16, 1 float)");
  f("data.mean", t.mean, "per-channel mean of pixel / pixel_range (`mae stats` computes it)");
  f("data.std", t.std, "per-channel std of pixel / pixel_range");
  f("data.crop_scale", t.scale_min, t.scale_max, "RandomResizedCrop area fraction range [min, max] (train)");
  f("data.crop_ratio", t.ratio_min, t.ratio_max, "RandomResizedCrop aspect ratio range [min, max] (train)");
  f("data.interpolation", t.interpolation, data::kInterpolationNames, "resampling (bilinear: antialiased)");
  f("data.hflip", t.hflip, "horizontal flip probability (train)");
  f("data.eval_resize_ratio", t.eval_resize_ratio,
    "eval: resize to input size * ratio, then center crop (256/224 as in MAE; 1: no border cut)");
  f("data.crop_decode", t.crop_decode, "decode only the crop of a JPEG, DCT-scaled (false: decode whole images, then crop)");
  f("data.auto_augment", t.auto_augment,
    "train: timm RandAugment after the flip, e.g. rand-m9-mstd0.5-inc1 (MAE fine-tuning); empty: off");
  f("data.reprob", t.reprob, "train: random erasing probability after Normalize (0: off)");
  f("data.remode", t.remode, data::kErasingModeNames,
    "train: what erased boxes get: noise per pixel, a colour per box, or 0");
  f("data.recount", t.recount, "train: erased boxes per erased image, drawn from 1..recount");
  f("data.num_workers", o.num_workers, "loader threads (0: one per core available)");
  f("data.prefetch_batches", o.prefetch_batches, "batches prepared ahead of the trainer");
  f("data.uint8_batches", o.uint8_batches,
    "training on CUDA: 8-bit images go to the GPU as uint8 (a quarter of the bytes) and are normalised there");
  f("data.wds_shuffle_buffer", o.wds_shuffle_buffer,
    "wds, train: samples each loader thread holds to shuffle within its shards (memory: threads x this x image size; 0: off)");
}

void bind(Fields& f, data::MixupOptions& o) {
  f("aug.mixup", o.mixup_alpha, "mixup: Beta(alpha, alpha) weight of the mix (0: off)");
  f("aug.cutmix", o.cutmix_alpha, "cutmix: Beta(alpha, alpha) area kept (0: off)");
  f("aug.cutmix_minmax", o.cutmix_minmax,
    "cutmix box sides as fractions [min, max] of the image (turns cutmix on, alpha ignored); []: off");
  f("aug.mixup_prob", o.prob, "chance that a batch is mixed (mixup or cutmix)");
  f("aug.mixup_switch_prob", o.switch_prob, "chance of cutmix instead of mixup when both are on");
  f("aug.mixup_mode", o.mode, data::kMixupModeNames, "one mix per batch, per pair of samples or per sample");
  f("aug.smoothing", o.label_smoothing, "label smoothing of the (mixed) targets");
}

void bind(Fields& f, train::TrainerOptions& o) {
  f("train.epochs", o.epochs, "epochs to train");
  f("train.warmup_epochs", o.warmup_epochs, "linear warmup epochs (then half-cycle cosine)");
  f("train.batch_size", o.batch_size, "batch per process and micro-step");
  f("train.accum_iter", o.accum_iter, "micro-steps accumulated per optimizer step");
  f("train.clip_grad", o.clip_grad, "clip the global gradient norm to this (0: off, as official)");
  f("train.precision", o.precision, train::kPrecisionNames,
    "auto: bf16 where the hardware has it and a start-up measurement finds it faster; fp32; bf16 (A100/H100, CPUs with "
    "AVX512-BF16 or AMX); or fp16 with a dynamic loss scale (V100, T4 and other GPUs without bf16). Autocast: weights and loss stay fp32");
  f("train.tf32", o.tf32, "TF32 tensor cores for fp32 matmuls and convolutions on Ampere and later GPUs (off, as PyTorch)");
  f("train.seed", o.seed, "seed of every random stream (data, masking, init)");
  f("train.output_dir", o.run_dir, "run folder: config, checkpoints, metrics, pictures");
  f("train.save_every", o.save_every, "numbered checkpoint every N epochs (checkpoint-last every epoch)");
  f("train.keep_last", o.keep_last, "numbered checkpoints kept (0: all)");
  f("train.save_every_steps", o.save_every_steps, "also refresh checkpoint-last every N optimizer steps inside an epoch (0: off)");
  f("train.save_every_minutes", o.save_every_minutes, "also refresh checkpoint-last every N minutes inside an epoch (0: off)");
  f("train.on_save_error", o.on_save_error, train::kSaveErrorActionNames, "a checkpoint that cannot be written: stop (exit 1), or warn and retry at the next save");
  f("train.nonfinite_patience", o.nonfinite_patience, "non-finite steps in a row before rolling back");
  f("train.nonfinite_action", o.nonfinite_action, train::kNonfiniteActionNames, "after rolling back: stop, or continue with a lower lr");
  f("train.nonfinite_lr_factor", o.nonfinite_lr_factor, "lr factor applied on each rollback with 'continue'");
  f("train.max_steps", o.max_steps, "stop after N optimizer steps (0: off), for smoke tests and benchmarks: the state reached is not saved (the run folder keeps the starting point's checkpoint-last)");
  f("train.grad_checkpointing", o.grad_checkpointing,
    "recompute each block's activations in backward: less memory, ~1/3 more compute");
  f("train.bucket_mb", o.bucket_mb, "distributed: gradient all-reduce bucket size in MiB (as DDP's bucket_cap_mb)");
  f("optim.blr", o.blr, "base lr; lr = blr * batch * accum_iter * world_size / 256");
  f("optim.lr", o.lr, "absolute lr (0: derive from optim.blr)");
  f("optim.min_lr", o.min_lr, "lr at the end of the cosine");
  f("optim.weight_decay", o.weight_decay, "AdamW weight decay (not on biases and 1-D parameters)");
  f("optim.no_weight_decay", o.no_weight_decay, "extra parameter names without weight decay");
  f("optim.optimizer", o.optimizer, train::kOptimizerNames, "lars: momentum 0.9, trust 1e-3, the linear probe's");
  f("optim.fused", o.fused_optimizer, "AdamW update as one fused kernel per group (false: LibTorch's per-parameter loop)");
  f("optim.betas", o.beta1, o.beta2, "AdamW betas");
  f("log.every", o.log_every, "optimizer steps between metric records");
  f("log.progress", o.progress, train::kProgressModeNames, "auto: a bar on a terminal, lines otherwise");
  f("log.jsonl", o.jsonl, "write metrics.jsonl");
  f("log.tensorboard", o.tensorboard, "write TensorBoard event files");
}

void bind(Fields& f, tasks::KnnOptions& o) {
  f("knn.every", o.every, "pretraining: k-NN accuracy every N epochs (0: off; needs labelled data)");
  f("knn.k", o.k, "neighbours that vote");
  f("knn.temperature", o.temperature, "vote weight exp(cosine similarity / temperature)");
  f("knn.train_samples", o.train_samples, "memory bank: this many train images, evenly spaced (0: all)");
  f("knn.val_samples", o.val_samples, "queries: this many val images, evenly spaced (0: all)");
  f("knn.pool", o.pool, tasks::kPoolNames, "feature: the cls token after the final norm, or the mean of the patch tokens");
}

}  // namespace mae::config
