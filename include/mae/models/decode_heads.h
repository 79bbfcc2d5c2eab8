// Segmentation decode heads, as mmsegmentation's decode_heads/: UPerHead (UPerNet: a pooling
// pyramid on the top level, lateral 1x1 convs, top-down adds, 3x3 FPN convs, fused), FCNHead (the
// auxiliary head), and the linear probe head (BatchNorm2d + 1x1 conv, DINOv2's BNHead). Module and
// parameter names are mmseg's, so a state dict maps one to one; SyncBN is BatchNorm2d here.
// Initialisation as mmseg: ConvModule convs kaiming normal (fan_out, relu), BatchNorm 1/0,
// conv_seg normal(0, 0.01) with bias 0.
// Legend: N batch, Ci input width, Ch head channels, K classes, h x w map.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace mae::models {

// x: [N, C, h, w] -> [N, C, out_h, out_w], bilinear with align_corners=False (mmseg's resize).
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t out_h, int64_t out_w);

// mmcv's ConvModule with a norm: conv (no bias, padding k/2) + BatchNorm2d + ReLU, as `conv`, `bn`.
class ConvModuleImpl : public torch::nn::Module {
 public:
  ConvModuleImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, double bn_eps = 1e-5);
  // x: [N, in, h, w] -> [N, out, h, w]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ConvModule);

struct UPerHeadOptions {
  int64_t in_channels = 768;  // of every level
  int64_t levels = 4;
  int64_t channels = 512;
  int64_t num_classes = 150;
  std::vector<int64_t> pool_scales{1, 2, 3, 6};
  double dropout = 0.1;  // Dropout2d before conv_seg

  void validate() const;
};

class UPerHeadImpl : public torch::nn::Module {
 public:
  explicit UPerHeadImpl(const UPerHeadOptions& options);

  // levels: `levels` maps [N, Ci, h_i, w_i], finest first -> logits [N, K, h_0, w_0]
  torch::Tensor forward(const std::vector<torch::Tensor>& levels);
  // The pooling pyramid on the top level: x [N, Ci, h, w] -> bottleneck [N, Ch, h, w]
  torch::Tensor psp_forward(const torch::Tensor& x);

  const UPerHeadOptions& options() const { return options_; }

  torch::nn::ModuleList psp_modules{nullptr};  // per scale: Sequential(AdaptiveAvgPool2d, ConvModule 1x1)
  ConvModule bottleneck{nullptr};              // 3x3 over [x, pooled...]
  torch::nn::ModuleList lateral_convs{nullptr}, fpn_convs{nullptr};  // levels - 1 each: 1x1, 3x3
  ConvModule fpn_bottleneck{nullptr};          // 3x3 over the concatenated levels
  torch::nn::Dropout2d dropout{nullptr};       // set when options.dropout > 0
  torch::nn::Conv2d conv_seg{nullptr};

 private:
  UPerHeadOptions options_;
};
TORCH_MODULE(UPerHead);

struct FCNHeadOptions {
  int64_t in_channels = 768;
  int64_t channels = 256;
  int64_t num_classes = 150;
  double dropout = 0.1;

  void validate() const;
};

// mmseg's FCNHead as UPerNet's auxiliary head: num_convs=1 (kernel 3), concat_input=False.
class FCNHeadImpl : public torch::nn::Module {
 public:
  explicit FCNHeadImpl(const FCNHeadOptions& options);
  // x: [N, Ci, h, w] -> logits [N, K, h, w]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential convs{nullptr};  // convs.0: ConvModule 3x3
  torch::nn::Dropout2d dropout{nullptr};
  torch::nn::Conv2d conv_seg{nullptr};
};
TORCH_MODULE(FCNHead);

// The linear probe head: bn (BatchNorm2d, affine) then conv_seg (1x1), no dropout.
class LinearSegHeadImpl : public torch::nn::Module {
 public:
  LinearSegHeadImpl(int64_t in_channels, int64_t num_classes, double bn_eps = 1e-5);
  // x: [N, Ci, h, w] -> logits [N, K, h, w]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Conv2d conv_seg{nullptr};
};
TORCH_MODULE(LinearSegHead);

}  // namespace mae::models
