// Parity of the segmentation model (MAE encoder + Feature2Pyramid + UPerHead + FCN auxiliary head,
// as mmsegmentation's ADE20K config) with a float64 reference written from mmseg's semantics
// (tests/python/make_segmentation_fixtures.py): logits, auxiliary logits, both of mmseg's loss
// averages, gradients and BatchNorm's running statistics in training mode; whole-image inference
// at another size (pos_embed resized bicubically); the linear head. Every parameter and buffer
// comes from the fixture by its mmseg / timm name, so a renamed module fails here.
#include <set>

#include <gtest/gtest.h>

#include "common/parity_fixture.h"
#include "common/tensor_compare.h"
#include "mae/config/config.h"
#include "mae/core/error.h"
#include "mae/models/segmenter.h"

using namespace mae::models;
using mae::testing::meta_int;
using mae::testing::tensors_close;

namespace {

constexpr double kRtol = mae::testing::kParityRtol, kAtol = mae::testing::kParityAtol;
const char* const kFixture = "seg_upernet.safetensors";

SegmenterOptions seg_options_of(const mae::io::SafetensorsFile& f, SegHead head) {
  SegmenterOptions o;
  mae::testing::read_encoder_options(f, &o.encoder);
  o.encoder.num_classes = 0;
  o.encoder.drop_path_rate = 0.0;  // the reference has neither drop path nor dropout
  o.dropout = 0.0;
  o.head = head;
  o.num_classes = meta_int(f, "num_classes");
  o.channels = meta_int(f, "channels");
  o.aux_channels = meta_int(f, "aux_channels");
  o.aux_weight = std::stod(f.metadata.at("aux_weight"));
  for (const auto& index : mae::config::split_list(f.metadata.at("out_indices"))) o.out_indices.push_back(std::stoll(index));
  return o;
}

// Copies the fixture's `prefix`<key> tensors into the parameter or buffer `into`<key>; returns the
// names set. Every fixture tensor must have a counterpart of its shape.
std::set<std::string> load_state(torch::nn::Module& model, const mae::io::SafetensorsFile& f, const std::string& prefix,
                                 const std::string& into) {
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : f.tensors) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string name = into + key.substr(prefix.size());
    torch::Tensor* target = params.find(name) ? params.find(name) : buffers.find(name);
    EXPECT_NE(target, nullptr) << "the reference's '" << name << "' has no counterpart in the model";
    if (target == nullptr) continue;
    EXPECT_EQ(target->sizes(), value.sizes()) << name;
    if (target->sizes() != value.sizes()) continue;
    target->copy_(value);
    loaded.insert(name);
  }
  return loaded;
}

void expect_everything_loaded(torch::nn::Module& model, const std::set<std::string>& loaded) {
  for (const auto& p : model.named_parameters()) EXPECT_TRUE(loaded.count(p.key())) << p.key() << " not in the fixture";
  for (const auto& b : model.named_buffers()) EXPECT_TRUE(loaded.count(b.key())) << b.key() << " not in the fixture";
}

// The UPerNet model in float64 with the fixture's weights and running statistics.
Segmenter upernet_from(const mae::io::SafetensorsFile& f) {
  Segmenter model(seg_options_of(f, SegHead::kUPerNet));
  model->to(torch::kFloat64);
  expect_everything_loaded(*model, load_state(*model, f, "param.", ""));
  return model;
}

// The fixture's grad.<name> (UPerNet model) or grad.linear.<name> (linear model) against the
// gradient of <name>; returns how many were compared.
int expect_grads(torch::nn::Module& model, const mae::io::SafetensorsFile& f, bool linear_model) {
  const std::string prefix = linear_model ? "grad.linear." : "grad.";
  auto params = model.named_parameters();
  int checked = 0;
  for (const auto& [key, expected] : f.tensors) {
    if (key.rfind(prefix, 0) != 0 || (!linear_model && key.rfind("grad.linear.", 0) == 0)) continue;
    const std::string name = key.substr(prefix.size());
    EXPECT_TRUE(params.contains(name)) << name;
    if (!params.contains(name)) continue;
    EXPECT_TRUE(params[name].grad().defined()) << name << " received no gradient";
    if (!params[name].grad().defined()) continue;
    EXPECT_TRUE(tensors_close("grad." + name, params[name].grad(), expected, kRtol, kAtol));
    ++checked;
  }
  return checked;
}

TEST(SegmenterParity, UperNetTrainingLogitsLossAndGradientsMatchReference) {
  const auto f = mae::testing::load_parity_fixture(kFixture);
  auto model = upernet_from(f);
  model->train();
  const auto& imgs = f.tensors.at("input.imgs");
  const auto& labels = f.tensors.at("input.labels");
  auto out = model->forward(imgs);
  const int64_t p = meta_int(f, "patch_size");
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{imgs.size(0), meta_int(f, "num_classes"), imgs.size(2) * 4 / p,
                                                      imgs.size(3) * 4 / p}));
  EXPECT_TRUE(tensors_close("logits", out.logits, f.tensors.at("output.logits"), kRtol, kAtol));
  ASSERT_TRUE(out.aux.defined()) << "training mode must return the auxiliary logits";
  EXPECT_TRUE(tensors_close("aux", out.aux, f.tensors.at("output.aux"), kRtol, kAtol));

  const int64_t ignore = meta_int(f, "ignore_index");
  const double aux_weight = model->options().aux_weight;
  auto loss = segmentation_loss(out.logits, out.aux, labels, ignore, aux_weight);
  EXPECT_TRUE(tensors_close("loss", loss, f.tensors.at("output.loss"), kRtol, kAtol));
  auto loss_all = segmentation_loss(out.logits, out.aux, labels, ignore, aux_weight, /*avg_non_ignore=*/false);
  EXPECT_TRUE(tensors_close("loss over all pixels", loss_all, f.tensors.at("output.loss_all_pixels"), kRtol, kAtol));

  loss.backward();
  EXPECT_GE(expect_grads(*model, f, /*linear_model=*/false), 15);
  EXPECT_TRUE(tensors_close("neck.upsample_4x.1.running_var", model->named_buffers()["neck.upsample_4x.1.running_var"],
                            f.tensors.at("output.running_var"), kRtol, kAtol));
}

TEST(SegmenterParity, WholeImageInferenceAtAnotherSizeResizesPosEmbed) {
  const auto f = mae::testing::load_parity_fixture(kFixture);
  auto model = upernet_from(f);
  model->eval();
  const auto& imgs = f.tensors.at("input.other_imgs");
  const int64_t p = meta_int(f, "patch_size");
  ASSERT_NE(imgs.size(2) * imgs.size(3), meta_int(f, "img_h") * meta_int(f, "img_w")) << "the fixture's other size must differ";
  torch::NoGradGuard no_grad;
  auto out = model->forward(imgs);
  EXPECT_FALSE(out.aux.defined()) << "evaluation mode has no auxiliary logits";
  EXPECT_EQ(out.logits.size(2), imgs.size(2) * 4 / p);
  EXPECT_EQ(out.logits.size(3), imgs.size(3) * 4 / p);
  EXPECT_TRUE(tensors_close("logits at another size", out.logits, f.tensors.at("output.other_logits"), kRtol, kAtol));
}

TEST(SegmenterParity, LinearHeadLogitsLossAndGradientsMatchReference) {
  const auto f = mae::testing::load_parity_fixture(kFixture);
  Segmenter model(seg_options_of(f, SegHead::kLinear));
  model->to(torch::kFloat64);
  auto loaded = load_state(*model, f, "param.backbone.", "backbone.");
  loaded.merge(load_state(*model, f, "linear.", "decode_head."));
  expect_everything_loaded(*model, loaded);
  EXPECT_FALSE(model->neck) << "the linear head needs no neck";
  EXPECT_FALSE(model->auxiliary_head) << "the linear head has no auxiliary head";

  model->train();
  const auto& imgs = f.tensors.at("input.imgs");
  auto out = model->forward(imgs);
  const int64_t p = meta_int(f, "patch_size");
  EXPECT_EQ(out.logits.sizes(),
            (std::vector<int64_t>{imgs.size(0), meta_int(f, "num_classes"), imgs.size(2) / p, imgs.size(3) / p}));
  EXPECT_FALSE(out.aux.defined());
  EXPECT_TRUE(tensors_close("linear logits", out.logits, f.tensors.at("output.linear_logits"), kRtol, kAtol));
  auto loss = segmentation_loss(out.logits, out.aux, f.tensors.at("input.labels"), meta_int(f, "ignore_index"));
  EXPECT_TRUE(tensors_close("linear loss", loss, f.tensors.at("output.linear_loss"), kRtol, kAtol));
  loss.backward();
  EXPECT_EQ(expect_grads(*model, f, /*linear_model=*/true), 3);
}

TEST(SegmenterOptionsTest, DefaultOutIndicesAreMmsegs) {
  EXPECT_EQ(default_out_indices(12), (std::vector<int64_t>{3, 5, 7, 11}));  // mmseg's MAE / BEiT base
  EXPECT_EQ(default_out_indices(24), (std::vector<int64_t>{7, 11, 15, 23}));  // BEiT large
  EXPECT_EQ(default_out_indices(4), (std::vector<int64_t>{0, 1, 2, 3}));
  SegmenterOptions o;
  EXPECT_EQ(o.resolved_out_indices(), (std::vector<int64_t>{3, 5, 7, 11}));
  EXPECT_EQ(std::string(mae::core::choice_name(kSegHeadNames, o.head)), "upernet");
}

// A tiny float32 model for the checks below.
SegmenterOptions tiny_options() {
  SegmenterOptions o;
  o.encoder.img_h = o.encoder.img_w = 16;
  o.encoder.patch_size = 4, o.encoder.embed_dim = 16, o.encoder.depth = 4, o.encoder.num_heads = 2;
  o.num_classes = 150, o.channels = 64, o.aux_channels = 32;
  return o;
}

TEST(SegmenterOptionsTest, RejectsWhatCannotBuild) {
  auto o = tiny_options();
  o.out_indices = {1, 2, 3};
  EXPECT_THROW(o.validate(), mae::UsageError) << "UPerNet takes four levels";
  o.out_indices = {0, 1, 2, 4};
  EXPECT_THROW(o.validate(), mae::UsageError) << "block 4 of a depth-4 encoder";
  o.out_indices = {0, 2, 1, 3};
  EXPECT_THROW(o.validate(), mae::UsageError) << "decreasing";
  o.out_indices = {3};
  o.head = SegHead::kLinear;
  EXPECT_NO_THROW(o.validate());
  EXPECT_EQ(mae::core::parse_choice(kSegHeadNames, "linear", "model.head"), SegHead::kLinear);
  EXPECT_THROW(mae::core::parse_choice(kSegHeadNames, "fpn", "model.head"), mae::UsageError);
}

TEST(SegmenterInputs, RejectsImagesThatAreNotPatchMultiples) {
  Segmenter model(tiny_options());
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_THROW(model->forward(torch::zeros({1, 3, 18, 16})), mae::Error);
  EXPECT_THROW(model->forward(torch::zeros({1, 1, 16, 16})), mae::Error);
  EXPECT_EQ(model->forward(torch::zeros({1, 3, 48, 32})).logits.sizes(), (std::vector<int64_t>{1, 150, 48, 32}));
}

TEST(SegmenterInit, HeadsStartAsMmseg) {
  Segmenter model(tiny_options());
  auto params = model->named_parameters();
  const auto& seg = params["decode_head.conv_seg.weight"];  // normal(0, 0.01), bias 0
  EXPECT_NEAR(seg.std().item<double>(), 0.01, 0.001);
  EXPECT_EQ(params["decode_head.conv_seg.bias"].abs().max().item<double>(), 0.0);
  EXPECT_EQ(params["auxiliary_head.conv_seg.bias"].abs().max().item<double>(), 0.0);
  // ConvModule: no conv bias; kaiming normal with fan_out = 64 * 3 * 3; BatchNorm 1 / 0.
  EXPECT_FALSE(params.contains("decode_head.fpn_bottleneck.conv.bias"));
  EXPECT_NEAR(params["decode_head.fpn_bottleneck.conv.weight"].std().item<double>(), std::sqrt(2.0 / (64 * 9)), 0.003);
  EXPECT_EQ(params["decode_head.fpn_bottleneck.bn.weight"].min().item<double>(), 1.0);
  EXPECT_TRUE(params.contains("neck.upsample_4x.3.weight"));
  EXPECT_TRUE(params.contains("decode_head.psp_modules.3.1.conv.weight"));
  EXPECT_TRUE(params.contains("auxiliary_head.convs.0.bn.bias"));
}

TEST(SegmentationLoss, AllPixelsIgnoredGivesZeroAndNoNaN) {
  auto logits = torch::randn({2, 5, 4, 4}, torch::requires_grad());
  auto labels = torch::full({2, 16, 16}, 255, torch::kLong);
  auto loss = segmentation_loss(logits, {}, labels);
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_EQ(logits.grad().abs().max().item<double>(), 0.0);
}

}  // namespace
