#include "mae/eval/reconstruction.h"

#include <algorithm>

#include "mae/core/error.h"
#include "mae/eval/picture.h"

namespace mae::eval {
namespace {

constexpr int64_t kGap = 2;
const char* const kColumns[] = {"original", "masked", "reconstruction", "recon + visible"};
const char* const kShortColumns[] = {"orig", "masked", "recon", "+visible"};

torch::Tensor per_channel(const std::vector<double>& values, int64_t channels, const std::string& what) {
  MAE_CHECK_USAGE(values.size() == 1 || static_cast<int64_t>(values.size()) == channels, what, " has ", values.size(),
                  " value(s) for ", channels, " channel(s)");
  auto t = torch::tensor(values, torch::kFloat32);
  return (values.size() == 1 ? t.expand({channels}) : t).reshape({1, channels, 1, 1});
}

}  // namespace

Reconstruction reconstruct(models::MaskedAutoencoderViT& model, const torch::Tensor& imgs, double mask_ratio,
                           const torch::Tensor& noise, const std::vector<double>& mean, const std::vector<double>& std) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  auto out = model->forward(imgs, mask_ratio, noise);
  model->train(was_training);
  Reconstruction r;
  r.mask = out.mask.to(torch::kCPU, torch::kFloat32);
  // Per-image loss over its masked patches, as the training loss defines it.
  auto per_patch = (out.pred.to(torch::kFloat32) - model->target(imgs).to(torch::kFloat32)).pow(2).mean(-1).cpu();
  r.masked_patch_loss = (per_patch * r.mask).sum(1) / r.mask.sum(1);

  auto pred = out.pred.to(torch::kFloat32);
  if (model->options().norm_pix_loss) {
    // The model predicts each patch normalised by its own mean/var; borrow the true ones.
    auto target = model->patchify(imgs).to(torch::kFloat32);
    auto patch_mean = target.mean(-1, true);
    auto patch_var = target.var(-1, true, true);
    pred = pred * (patch_var + 1e-6).sqrt() + patch_mean;
    r.used_patch_statistics = true;
  }
  const int64_t c = imgs.size(1);
  const auto m = per_channel(mean, c, "data.mean"), s = per_channel(std, c, "data.std");
  auto to_display = [&](const torch::Tensor& x) { return (x.to(torch::kCPU, torch::kFloat32) * s + m).clamp(0, 1); };
  const auto p = model->options().patch_size;
  auto mask_img = model->unpatchify(out.mask.unsqueeze(-1).expand({-1, -1, p * p * c}).to(torch::kFloat32)).cpu();  // 1 = removed
  r.original = to_display(imgs);
  r.prediction = to_display(model->unpatchify(pred));
  r.masked = r.original * (1 - mask_img);
  r.pasted = r.original * (1 - mask_img) + r.prediction * mask_img;
  return r;
}

torch::Tensor noise_for_mask(const std::vector<int64_t>& masked, int64_t num_patches, double* mask_ratio) {
  auto noise = torch::arange(num_patches, torch::kFloat32) / static_cast<float>(num_patches);  // keeps order stable
  for (int64_t index : masked) {
    MAE_CHECK_USAGE(index >= 0 && index < num_patches, "masked patch index ", index, " is outside 0..", num_patches - 1);
    MAE_CHECK_USAGE(noise[index].item<float>() < 1.0f, "masked patch index ", index, " is listed twice");
    noise[index] += 1.0f;
  }
  const auto kept = num_patches - static_cast<int64_t>(masked.size());
  MAE_CHECK_USAGE(kept >= 1, "the mask removes every patch; keep at least one");
  // int(L * (1 - ratio)) must give `kept`: aim half a patch above it, clear of rounding.
  *mask_ratio = 1.0 - (static_cast<double>(kept) + 0.5) / static_cast<double>(num_patches);
  return noise;
}

torch::Tensor reconstruction_grid(const Reconstruction& r, const std::string& note, int64_t min_tile) {
  const int64_t n = r.original.size(0), c = r.original.size(1);
  const int64_t factor = upscale_factor(std::min(r.original.size(2), r.original.size(3)), min_tile);
  const int64_t h = r.original.size(2) * factor, w = r.original.size(3) * factor;
  int64_t margin = 0;  // the row labels' column
  for (const auto& label : r.row_labels) margin = std::max(margin, text_width(label) + kGap);
  const int64_t width = margin + 4 * w + 5 * kGap;
  // Captions at twice the font size once a tile has room for it.
  const int64_t scale = w >= 2 * text_width(kColumns[2]) + 8 ? 2 : 1;
  const int64_t header = text_height(scale) + 3 * kGap;
  const auto note_lines = wrap_text(note, width - 2 * kGap, 1);
  const int64_t footer = note_lines.empty() ? 0 : static_cast<int64_t>(note_lines.size()) * (text_height() + kGap) + kGap;
  auto grid = torch::full({header + n * h + (n + 1) * kGap + footer, width, c}, 255, torch::kUInt8);
  for (int64_t k = 0; k < 4; ++k) {
    const std::string caption = text_width(kColumns[k], scale) <= w ? kColumns[k] : kShortColumns[k];
    draw_text(grid, margin + kGap + k * (w + kGap) + std::max<int64_t>(0, (w - text_width(caption, scale)) / 2), 2 * kGap,
              caption, scale);
  }
  const torch::Tensor* panels[] = {&r.original, &r.masked, &r.prediction, &r.pasted};
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 4; ++k) {
      auto tile = ((*panels[k])[i] * 255.0).round().to(torch::kUInt8).permute({1, 2, 0});  // [H, W, C]
      const int64_t y = header + kGap + i * (h + kGap), x = margin + kGap + k * (w + kGap);
      grid.narrow(0, y, h).narrow(1, x, w).copy_(upscale_nearest(tile, factor));
    }
    if (i < static_cast<int64_t>(r.row_labels.size())) {
      draw_text(grid, kGap, header + kGap + i * (h + kGap) + std::max<int64_t>(0, (h - text_height()) / 2), r.row_labels[i]);
    }
  }
  int64_t y = header + n * h + (n + 1) * kGap;
  for (const auto& line : note_lines) {
    draw_text(grid, kGap, y, line);
    y += text_height() + kGap;
  }
  return grid;
}

}  // namespace mae::eval
