#include "mae/data/loader/batch_source.h"

#include "mae/core/error.h"

namespace mae::data {

Batch readable_rows(const Batch& batch) {
  if (!batch.readable.defined() || batch.readable.all().item<bool>()) return batch;
  const auto rows = batch.readable.nonzero().squeeze(1);
  return Batch{batch.images.index_select(0, rows), batch.labels.index_select(0, rows), batch.indices.index_select(0, rows),
               torch::Tensor(), batch.normalize};
}

torch::Tensor normalize_images(const torch::Tensor& images, const DeviceNormalize& normalize) {
  const auto c = static_cast<int64_t>(normalize.mean.size());
  MAE_CHECK(images.dim() == 4 && images.size(1) == c && images.scalar_type() == torch::kUInt8 &&
                normalize.std.size() == normalize.mean.size(),
            "normalize_images expects [N, ", c, ", H, W] uint8 images, got ", images.sizes(), " ", images.scalar_type());
  std::vector<float> values(static_cast<size_t>(c), normalize.range);
  values.insert(values.end(), normalize.mean.begin(), normalize.mean.end());
  values.insert(values.end(), normalize.std.begin(), normalize.std.end());
  auto params = torch::tensor(values).view({3, 1, c, 1, 1});  // range, mean, std
  // Pinned, so that the copy does not wait for the work already queued on the device.
  if (images.is_cuda()) params = params.pin_memory().to(images.device(), /*non_blocking=*/true);
  // Divisions by tensors, not scalars: ATen divides by a scalar through its reciprocal, which is not
  // what Normalize's table (v / range - mean) / std holds.
  return (images.to(torch::kFloat32) / params[0] - params[1]) / params[2];
}

Batch to_device(const Batch& batch, const torch::Device& device) {
  Batch out = batch;
  if (!device.is_cpu()) {
    out.images = batch.images.to(device, /*non_blocking=*/true);
    out.labels = batch.labels.to(device, /*non_blocking=*/true);
  }
  if (batch.normalize) {
    out.images = normalize_images(out.images, *batch.normalize);
    out.normalize = nullptr;
  }
  return out;
}

}  // namespace mae::data
