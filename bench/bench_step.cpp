// Times one training step (forward, backward, AdamW step) for a preset and batch size and prints
// one JSON line in the format of bench/step_reference.py, so that bench/run_step_bench.sh can put
// both side by side. --task pretrain (default): the MAE; --task segment: the segmenter of
// `mae segment` (ViT + UPerNet with its auxiliary head, or the linear head) on random label maps,
// as the paper's ADE20K transfer (--img 512 --batch 2 per GPU). Legend: B batch, C channels, H x W image.
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/version.h>

#include "mae/core/runtime.h"
#include "mae/kernels/available.h"
#include "mae/models/block.h"
#include "mae/models/explicit_attention.h"
#include "mae/models/mlp.h"
#include "mae/models/presets.h"
#include "mae/models/segmenter.h"
#include "mae/optim/param_groups.h"
#include "mae/train/loss_scaler.h"
#include "mae/train/precision.h"

namespace {

// Multiply-adds of one forward pass of one image: every Linear, the patch embedding and the two
// attention matmuls (q k^T, attn v); norms, GELU and softmax are left out (they are not GEMMs).
double forward_macs(const mae::models::MaeViTOptions& o, double mask_ratio) {
  const double l = static_cast<double>(o.num_patches());
  const double keep = std::floor(l * (1.0 - mask_ratio));
  const double pp = static_cast<double>(o.patch_size * o.patch_size * o.in_chans);
  auto blocks = [&](double tokens, double d, int64_t depth) {
    const double per_token = 4 * d * d + 2 * o.mlp_ratio * d * d + 2 * tokens * d;  // qkv+proj, mlp, attention
    return static_cast<double>(depth) * tokens * per_token;
  };
  const double d = static_cast<double>(o.embed_dim), dd = static_cast<double>(o.decoder_embed_dim);
  return l * pp * d                                  // patch embedding (all patches, as the official code)
         + blocks(1 + keep, d, o.depth)              // encoder on the kept patches + cls
         + (1 + keep) * d * dd                       // decoder_embed
         + blocks(1 + l, dd, o.decoder_depth)        // decoder on all patches + cls
         + (1 + l) * dd * pp;                        // decoder_pred
}

// The GEMM rate of this machine and thread count in the dtype the step's matmuls run in (2048^3;
// bf16 or fp16 under autocast).
double gemm_gflops(const torch::Device& device, mae::train::Precision precision) {
  const auto dtype = precision == mae::train::Precision::kBf16   ? torch::kBFloat16
                     : precision == mae::train::Precision::kFp16 ? torch::kHalf
                                                                  : torch::kFloat32;
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  const auto a = torch::randn({2048, 2048}, options);
  const auto b = torch::randn({2048, 2048}, options);
  auto c = torch::mm(a, b);
  if (device.is_cuda()) torch::cuda::synchronize();
  const int n = device.is_cuda() ? 50 : 5;
  const auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) c = torch::mm(a, b);
  if (device.is_cuda()) torch::cuda::synchronize();
  return 2.0 * 2048 * 2048 * 2048 * n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "base", attn = "fused", dtype = "fp32", device_spec = "cpu", profile, task = "pretrain", head = "upernet";
  int64_t img = 224, img_h = 0, img_w = 0, patch = 0, in_chans = 3, batch = 8;
  int64_t decoder_dim = 0, decoder_depth = 0, decoder_heads = 0, num_classes = 150, channels = 768;
  int threads = 0, steps = 5, warmup = 2;
  double mask_ratio = 0.75;
  bool norm_pix_loss = false, grad_checkpointing = false, default_malloc = false, attention_copies = false,
       aten_mlp = false, aten_kernels = false;
  CLI::App app{"Training step benchmark: MAE pretraining or segmentation (prints one JSON line)"};
  app.add_option("--task", task, "pretrain (the MAE) or segment (the segmenter)")->capture_default_str();
  app.add_option("--head", head, "segment: upernet or linear")->capture_default_str();
  app.add_option("--num-classes", num_classes, "segment: classes (ADE20K: 150)")->capture_default_str();
  app.add_option("--channels", channels, "segment: UPerHead width (mmseg's ViT-B: 768)")->capture_default_str();
  app.add_option("--preset", preset, "tiny, small, base, large or huge")->capture_default_str();
  app.add_option("--img", img, "square image size")->capture_default_str();
  app.add_option("--img-h", img_h, "height (0: --img)");
  app.add_option("--img-w", img_w, "width (0: --img)");
  app.add_option("--patch", patch, "patch size (0: the preset's)");
  app.add_option("--in-chans", in_chans)->capture_default_str();
  app.add_option("--decoder-dim", decoder_dim, "0: the preset's");
  app.add_option("--decoder-depth", decoder_depth, "0: the preset's");
  app.add_option("--decoder-heads", decoder_heads, "0: the preset's");
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  app.add_option("--attn", attn, "fused (model.fused_attn=true: per call the measured fastest), plain (=false), or one path for every call: sdpa, explicit")
      ->check(CLI::IsMember({"fused", "plain", "sdpa", "explicit"}))
      ->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("--mask-ratio", mask_ratio)->capture_default_str();
  app.add_flag("--norm-pix-loss", norm_pix_loss);
  app.add_flag("--attention-copies", attention_copies, "the explicit attention node with head-major copies (ATen bmm) instead of in place (MKL batched GEMM)");
  app.add_flag("--aten-mlp", aten_mlp, "fc1 + GELU through ATen's addmm and gelu instead of the fused bias + GELU node");
  app.add_flag("--aten-kernels", aten_kernels, "none of our CPU kernels (kernels/: bias + GELU, softmax): ATen's ops instead");
  app.add_flag("--default-malloc", default_malloc, "leave glibc malloc's trimming as it is (as a Python process has it)");
  app.add_flag("--grad-checkpointing", grad_checkpointing, "recompute block activations in backward");
  app.add_option("--dtype", dtype, "fp32, bf16 or fp16 (autocast; fp16 with a fixed loss scale of 2^16, unscaled before the step)")->capture_default_str();
  app.add_option("--device", device_spec, "cpu, cuda, auto")->capture_default_str();
  app.add_option("--profile", profile, "write a Chrome trace of one extra step to this file (bench/profile_summary.py sums it by op)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!default_malloc) mae::core::configure_host_allocator();
    mae::models::set_explicit_attention_in_place(!attention_copies);
    mae::models::set_mlp_fused_bias_gelu(!aten_mlp);
    mae::kernels::set_enabled(!aten_kernels);
    const int used_threads = mae::core::configure_threads(threads);
    const auto device = mae::core::resolve_device(device_spec);
    const auto options = torch::TensorOptions().device(device);
    auto o = mae::models::mae_preset("mae_vit_" + preset + "_patch" + std::to_string(preset == "huge" ? 14 : 16));
    o.img_h = img_h > 0 ? img_h : img;
    o.img_w = img_w > 0 ? img_w : img;
    if (patch > 0) o.patch_size = patch;
    if (decoder_dim > 0) o.decoder_embed_dim = decoder_dim;
    if (decoder_depth > 0) o.decoder_depth = decoder_depth;
    if (decoder_heads > 0) o.decoder_num_heads = decoder_heads;
    o.in_chans = in_chans;
    o.norm_pix_loss = norm_pix_loss;
    o.fused_attn = attn == "fused";
    torch::manual_seed(0);
    const auto imgs = torch::randn({batch, in_chans, o.img_h, o.img_w}, options);  // [B, C, H, W]
    std::shared_ptr<torch::nn::Module> model;
    std::function<torch::Tensor()> forward_loss;
    int64_t depth = o.depth;
    if (task == "pretrain") {
      auto mae_model = std::make_shared<mae::models::MaskedAutoencoderViTImpl>(o);
      forward_loss = [mae_model, &imgs, mask_ratio] { return mae_model->forward(imgs, mask_ratio).loss; };
      model = mae_model;
    } else if (task == "segment") {
      // mmseg's ADE20K setup: drop path 0.1, the auxiliary head at 0.4, labels 255 left out.
      mae::models::SegmenterOptions s;
      s.encoder = mae::models::vit_preset("vit_" + preset + "_patch" + std::to_string(o.patch_size));
      s.encoder.img_h = o.img_h, s.encoder.img_w = o.img_w, s.encoder.in_chans = in_chans;
      s.encoder.drop_path_rate = 0.1;
      s.encoder.fused_attn = o.fused_attn;
      s.num_classes = num_classes;
      s.channels = channels;
      s.head = mae::core::parse_choice(mae::models::kSegHeadNames, head, "--head");
      auto segmenter = std::make_shared<mae::models::SegmenterImpl>(s);
      auto labels = torch::randint(num_classes, {batch, o.img_h, o.img_w}, options.dtype(torch::kLong));  // [B, H, W]
      labels.masked_fill_(torch::rand({batch, o.img_h, o.img_w}, options) < 0.1, 255);
      forward_loss = [segmenter, &imgs, labels, aux_weight = s.aux_weight] {
        const auto out = segmenter->forward(imgs);
        return mae::models::segmentation_loss(out.logits.to(torch::kFloat32),
                                              out.aux.defined() ? out.aux.to(torch::kFloat32) : out.aux, labels, 255, aux_weight);
      };
      model = segmenter;
      depth = s.encoder.depth;
    } else {
      throw std::invalid_argument("--task must be pretrain or segment, got " + task);
    }
    model->train();
    model->to(device);
    mae::models::set_grad_checkpointing(*model, grad_checkpointing);
    if (attn == "sdpa") mae::models::set_attention_path(*model, mae::models::AttentionPath::kSdpa);
    if (attn == "explicit") mae::models::set_attention_path(*model, mae::models::AttentionPath::kExplicit);
    const auto groups = task == "segment" ? mae::optim::layer_decay_groups(*model, 0.05, {}, 0.65, depth)
                                          : mae::optim::weight_decay_groups(*model, 0.05, {});
    auto optimizer = mae::optim::make_adamw(groups, 0.9, task == "segment" ? 0.999 : 0.95);
    mae::optim::set_lr(*optimizer, groups, 1e-4);
    const auto precision = mae::core::parse_choice(mae::train::kPrecisionNames, dtype, "--dtype");
    const mae::train::LossScaleState loss_scale;

    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    double phase[3] = {0, 0, 0};  // forward, backward, optimizer seconds over the timed steps
    bool timing = false;
    auto lap = [&](int which, std::chrono::steady_clock::time_point& t) {
      sync();
      const auto now = std::chrono::steady_clock::now();
      if (timing) phase[which] += std::chrono::duration<double>(now - t).count();
      t = now;
    };
    auto step = [&] {
      auto t = std::chrono::steady_clock::now();
      torch::Tensor loss;
      {
        mae::train::AutocastGuard autocast(device, precision);
        loss = forward_loss();
      }
      lap(0, t);
      if (precision == mae::train::Precision::kFp16) {
        mae::train::LossScaler::scale_loss(loss, loss_scale).backward();
        mae::train::LossScaler::unscale(model->parameters(), loss_scale);
      } else {
        loss.backward();
      }
      lap(1, t);
      optimizer->step();
      optimizer->zero_grad(true);
      lap(2, t);
    };
    for (int i = 0; i < warmup; ++i) step();
    sync();
    mae::core::reset_peak_memory(device);
    timing = true;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    sync();
    const double elapsed_steps = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!profile.empty()) {
      torch::autograd::profiler::RecordProfile guard(profile);
      step();
      sync();
    }
    const double elapsed = elapsed_steps;
    // Forward + backward = 3 x forward (the input gradient of the patch embedding is not computed:
    // a slight overcount).
    nlohmann::json out = {{"impl", "mae-" + attn + (grad_checkpointing ? "-ckpt" : "")},
                          {"task", task},
                          {"torch", TORCH_VERSION},
                          {"device", device.str()},
                          {"dtype", dtype},
                          {"threads", used_threads},
                          {"batch", batch},
                          {"img_per_s", batch * steps / elapsed},
                          {"step_ms", 1000.0 * elapsed / steps},
                          {"peak_mem_mb", mae::core::peak_memory_mb(device)},
                          {"forward_ms", 1000.0 * phase[0] / steps},
                          {"backward_ms", 1000.0 * phase[1] / steps},
                          {"optimizer_ms", 1000.0 * phase[2] / steps}};
    if (task == "pretrain") {  // the GEMM count is the MAE's
      const double step_gflop = 3 * 2 * forward_macs(o, mask_ratio) * static_cast<double>(batch) / 1e9;
      const double achieved = step_gflop * steps / elapsed;
      const double peak = gemm_gflops(device, precision);
      out.update({{"step_gflop", step_gflop}, {"achieved_gflops", achieved}, {"gemm_peak_gflops", peak}, {"peak_share", achieved / peak}});
    }
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
