#include "mae/models/decode_heads.h"

#include "mae/core/error.h"

namespace mae::models {

namespace F = torch::nn::functional;

namespace {

// mmseg's BaseDecodeHead init_cfg: Normal(std=0.01) overriding conv_seg only.
torch::nn::Conv2d make_conv_seg(torch::nn::Module& owner, int64_t in_channels, int64_t num_classes) {
  auto conv = owner.register_module("conv_seg", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, num_classes, 1)));
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(conv->weight, 0.0, 0.01);
  conv->bias.zero_();
  return conv;
}

torch::nn::Dropout2d make_dropout(torch::nn::Module& owner, double p) {
  if (p <= 0.0) return torch::nn::Dropout2d(nullptr);
  return owner.register_module("dropout", torch::nn::Dropout2d(torch::nn::Dropout2dOptions(p)));
}

// BaseDecodeHead.cls_seg: dropout, then the 1x1 classifier.
torch::Tensor classify(torch::nn::Dropout2d& dropout, torch::nn::Conv2d& conv_seg, torch::Tensor x) {
  if (dropout) x = dropout->forward(x);
  return conv_seg->forward(x);
}

void check_dropout(double p, const char* what) {
  MAE_CHECK_USAGE(p >= 0.0 && p < 1.0, what, " dropout must be in [0, 1), got ", p);
}

}  // namespace

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{out_h, out_w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

ConvModuleImpl::ConvModuleImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, double bn_eps) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel_size)
                                                       .padding(kernel_size / 2)
                                                       .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(out_channels).eps(bn_eps)));
  torch::NoGradGuard no_grad;  // mmcv's kaiming_init defaults; BatchNorm starts at 1/0 already
  torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
}

torch::Tensor ConvModuleImpl::forward(const torch::Tensor& x) { return torch::relu(bn->forward(conv->forward(x))); }

void UPerHeadOptions::validate() const {
  MAE_CHECK_USAGE(in_channels > 0 && channels > 0 && num_classes > 0,
                  "UPerHead needs positive in_channels, channels and num_classes, got ", in_channels, ", ", channels, ", ",
                  num_classes);
  MAE_CHECK_USAGE(levels >= 1, "UPerHead needs at least one level, got ", levels);
  MAE_CHECK_USAGE(!pool_scales.empty(), "UPerHead needs at least one pool scale");
  for (int64_t s : pool_scales) MAE_CHECK_USAGE(s > 0, "UPerHead pool scales must be positive, got ", s);
  check_dropout(dropout, "UPerHead");
}

UPerHeadImpl::UPerHeadImpl(const UPerHeadOptions& o) : options_(o) {
  o.validate();
  psp_modules = register_module("psp_modules", torch::nn::ModuleList());
  for (int64_t scale : o.pool_scales) {
    psp_modules->push_back(torch::nn::Sequential(torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(scale)),
                                                 ConvModule(o.in_channels, o.channels, 1)));
  }
  const auto scales = static_cast<int64_t>(o.pool_scales.size());
  bottleneck = register_module("bottleneck", ConvModule(o.in_channels + scales * o.channels, o.channels, 3));
  lateral_convs = register_module("lateral_convs", torch::nn::ModuleList());
  fpn_convs = register_module("fpn_convs", torch::nn::ModuleList());
  for (int64_t i = 0; i + 1 < o.levels; ++i) {
    lateral_convs->push_back(ConvModule(o.in_channels, o.channels, 1));
    fpn_convs->push_back(ConvModule(o.channels, o.channels, 3));
  }
  fpn_bottleneck = register_module("fpn_bottleneck", ConvModule(o.levels * o.channels, o.channels, 3));
  dropout = make_dropout(*this, o.dropout);
  conv_seg = make_conv_seg(*this, o.channels, o.num_classes);
}

torch::Tensor UPerHeadImpl::psp_forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> outs{x};
  for (size_t i = 0; i < psp_modules->size(); ++i) {
    outs.push_back(resize_bilinear(psp_modules->ptr<torch::nn::SequentialImpl>(i)->forward(x), x.size(2), x.size(3)));
  }
  return bottleneck->forward(torch::cat(outs, 1));
}

torch::Tensor UPerHeadImpl::forward(const std::vector<torch::Tensor>& levels) {
  const auto used = static_cast<int64_t>(levels.size());
  MAE_CHECK(used == options_.levels, "UPerHead built for ", options_.levels, " levels got ", used);
  std::vector<torch::Tensor> laterals;
  for (int64_t i = 0; i + 1 < used; ++i) laterals.push_back(lateral_convs[i]->as<ConvModule>()->forward(levels[i]));
  laterals.push_back(psp_forward(levels.back()));
  // Top-down: each level adds the (already summed) coarser one, resized to its size.
  for (int64_t i = used - 1; i > 0; --i) {
    laterals[i - 1] = laterals[i - 1] + resize_bilinear(laterals[i], laterals[i - 1].size(2), laterals[i - 1].size(3));
  }
  std::vector<torch::Tensor> outs;
  for (int64_t i = 0; i + 1 < used; ++i) outs.push_back(fpn_convs[i]->as<ConvModule>()->forward(laterals[i]));
  outs.push_back(laterals.back());
  for (int64_t i = used - 1; i > 0; --i) outs[i] = resize_bilinear(outs[i], outs[0].size(2), outs[0].size(3));
  return classify(dropout, conv_seg, fpn_bottleneck->forward(torch::cat(outs, 1)));
}

void FCNHeadOptions::validate() const {
  MAE_CHECK_USAGE(in_channels > 0 && channels > 0 && num_classes > 0,
                  "FCNHead needs positive in_channels, channels and num_classes, got ", in_channels, ", ", channels, ", ",
                  num_classes);
  check_dropout(dropout, "FCNHead");
}

FCNHeadImpl::FCNHeadImpl(const FCNHeadOptions& o) {
  o.validate();
  convs = register_module("convs", torch::nn::Sequential(ConvModule(o.in_channels, o.channels, 3)));
  dropout = make_dropout(*this, o.dropout);
  conv_seg = make_conv_seg(*this, o.channels, o.num_classes);
}

torch::Tensor FCNHeadImpl::forward(const torch::Tensor& x) { return classify(dropout, conv_seg, convs->forward(x)); }

LinearSegHeadImpl::LinearSegHeadImpl(int64_t in_channels, int64_t num_classes, double bn_eps) {
  MAE_CHECK_USAGE(in_channels > 0 && num_classes > 0, "the linear head needs positive in_channels and num_classes, got ",
                  in_channels, ", ", num_classes);
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(in_channels).eps(bn_eps)));
  conv_seg = make_conv_seg(*this, in_channels, num_classes);
}

torch::Tensor LinearSegHeadImpl::forward(const torch::Tensor& x) { return conv_seg->forward(bn->forward(x)); }

}  // namespace mae::models
