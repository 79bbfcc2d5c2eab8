// What the model reconstructs, in pixels, as the official visualisation demo shows it:
// original, masked, reconstruction, and reconstruction with the visible patches pasted back.
// Legend: N images, C channels, H x W pixels, L patches.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "mae/models/mae_vit.h"

namespace mae::eval {

struct Reconstruction {
  torch::Tensor original, masked, prediction, pasted;  // [N, C, H, W] in [0, 1] (display space)
  torch::Tensor mask;                                  // [N, L], 1 = removed
  torch::Tensor masked_patch_loss;                     // [N] the training loss per image
  bool used_patch_statistics = false;  // norm_pix_loss: prediction un-normalised with the true patches' mean/var
  std::vector<std::string> row_labels;  // one per panel row when the rows are not one per image ("image 1 band 2")
};

// imgs: [N, C, H, W] normalised with mean/std (as the model was trained); noise: [N, L] or undefined.
// mean/std: per channel (or one value for all) to map back to display space.
Reconstruction reconstruct(models::MaskedAutoencoderViT& model, const torch::Tensor& imgs, double mask_ratio,
                           const torch::Tensor& noise, const std::vector<double>& mean, const std::vector<double>& std);

// Noise that makes random_masking remove exactly `masked` (patch indices) and keep the rest,
// with the mask ratio that keeps L - |masked| patches. Throws UsageError on a bad index.
torch::Tensor noise_for_mask(const std::vector<int64_t>& masked, int64_t num_patches, double* mask_ratio);

// A picture: one row per image, four panels (original | masked | reconstruction | pasted), each
// enlarged (nearest neighbour) to at least `min_tile` pixels a side, under a header that names the
// columns, with `note` (if any) written below and r.row_labels (if any) in a margin on the left;
// [H', W', C] uint8 (C = 1 or 3).
torch::Tensor reconstruction_grid(const Reconstruction& r, const std::string& note = "", int64_t min_tile = 96);

}  // namespace mae::eval
