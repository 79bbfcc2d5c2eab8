#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/augment/pil_ops.h"
#include "mae/io/safetensors.h"
#include "mae/data/augment/rand_augment.h"

using mae::data::AugmentOp;
using mae::data::AugmentStep;
using mae::data::RandAugment;
using mae::data::RandAugmentOptions;
using mae::data::SampleRng;
using mae::data::pil::Resample;
namespace pil = mae::data::pil;

namespace {

// [H, W, C] uint8 of seeded values in [lo, hi).
torch::Tensor random_image(int64_t h, int64_t w, int64_t c, int lo = 0, int hi = 256, uint64_t seed = 1) {
  torch::manual_seed(seed);
  return torch::randint(lo, hi, {h, w, c}, torch::kUInt8);
}

torch::Tensor constant_image(int64_t h, int64_t w, int64_t c, int value) {
  return torch::full({h, w, c}, value, torch::kUInt8);
}

int pixel(const torch::Tensor& t, int64_t y, int64_t x, int64_t c = 0) { return t.index({y, x, c}).item<int>(); }

}  // namespace

TEST(DataAugmentOps, TableOpsFollowPil) {
  for (int64_t c : {1, 3}) {
    const auto img = random_image(9, 7, c);
    EXPECT_TRUE(torch::equal(pil::invert(pil::invert(img)), img));
    EXPECT_TRUE(torch::equal(pil::invert(img), 255 - img));
    // Posterize keeps the high bits; 8 bits keep everything, 0 bits nothing.
    EXPECT_TRUE(torch::equal(pil::posterize(img, 4), torch::bitwise_and(img, 0xF0)));
    EXPECT_TRUE(torch::equal(pil::posterize(img, 8), img));
    EXPECT_TRUE(torch::equal(pil::posterize(img, 0), torch::zeros_like(img)));
    // Solarize inverts from the threshold up: 256 changes nothing, 0 inverts all.
    EXPECT_TRUE(torch::equal(pil::solarize(img, 256), img));
    EXPECT_TRUE(torch::equal(pil::solarize(img, 0), 255 - img));
    EXPECT_TRUE(torch::equal(pil::solarize(img, 128), torch::where(img < 128, img, 255 - img)));
    // Equalize and autocontrast leave a constant image alone.
    EXPECT_TRUE(torch::equal(pil::equalize(constant_image(5, 5, c, 77)), constant_image(5, 5, c, 77)));
    EXPECT_TRUE(torch::equal(pil::auto_contrast(constant_image(5, 5, c, 77)), constant_image(5, 5, c, 77)));
  }
  auto v = torch::tensor({120, 200, 250, 100, 0, 127}, torch::kUInt8).view({2, 3, 1});
  const auto add30 = torch::tensor({150, 200, 250, 130, 30, 157}, torch::kUInt8).view({2, 3, 1});
  const auto add200 = torch::tensor({255, 200, 250, 255, 200, 255}, torch::kUInt8).view({2, 3, 1});
  EXPECT_TRUE(torch::equal(pil::solarize_add(v, 30), add30));
  EXPECT_TRUE(torch::equal(pil::solarize_add(v, 200), add200));

  // Equalize of 510 pixels at 0 and 510 at 100: PIL's step = (1020 - 510) / 255 = 2 maps 100 to 255.
  auto two_levels = torch::cat({torch::zeros({510}), torch::full({510}, 100.0)}).to(torch::kUInt8).view({30, 34, 1});
  const auto eq = pil::equalize(two_levels);
  EXPECT_EQ(eq.min().item<int>(), 0);
  EXPECT_EQ(eq.max().item<int>(), 255);
  EXPECT_EQ(eq.eq(255).sum().item<int64_t>(), 510);
  // Autocontrast stretches each channel on its own.
  auto rgb = torch::stack({torch::zeros({4, 4}), torch::full({4, 4}, 50.0), torch::zeros({4, 4})}, 2).to(torch::kUInt8);
  rgb.index_put_({0, 0, 0}, 10);
  rgb.index_put_({1, 1, 0}, 20);
  rgb.index_put_({0, 0, 1}, 60);
  const auto ac = pil::auto_contrast(rgb);
  EXPECT_EQ(pixel(ac, 0, 0, 0), 127);  // (10 - 0) * 255 / 20 = 127.5, truncated
  EXPECT_EQ(pixel(ac, 1, 1, 0), 255);
  EXPECT_EQ(pixel(ac, 0, 0, 1), 255);
  EXPECT_EQ(pixel(ac, 2, 2, 1), 0);
  EXPECT_TRUE(torch::equal(ac.select(2, 2), rgb.select(2, 2)));  // a constant channel is left alone
}

TEST(DataAugmentOps, EnhanceOpsBlendAsPil) {
  for (int64_t c : {1, 3}) {
    const auto img = random_image(8, 6, c);
    for (auto op : {pil::color, pil::contrast, pil::brightness, pil::sharpness}) {
      EXPECT_TRUE(torch::equal(op(img, 1.0), img));
    }
  }
  // Brightness blends with black: float blend, truncated inside [0, 1] and clipped beyond.
  const auto v = torch::tensor({201, 100, 200, 3}, torch::kUInt8).view({2, 2, 1});
  EXPECT_TRUE(torch::equal(pil::brightness(v, 0.5), torch::tensor({100, 50, 100, 1}, torch::kUInt8).view({2, 2, 1})));
  EXPECT_TRUE(torch::equal(pil::brightness(v, 1.5), torch::tensor({255, 150, 255, 4}, torch::kUInt8).view({2, 2, 1})));
  // Contrast 0 is the rounded grey mean everywhere: (0 + 101) / 2 = 50.5 -> 51.
  const auto half = torch::tensor({0, 101, 0, 101}, torch::kUInt8).view({2, 2, 1});
  EXPECT_TRUE(torch::equal(pil::contrast(half, 0.0), torch::full({2, 2, 1}, 51, torch::kUInt8)));
  // Color is the identity on grey; color 0 on RGB is PIL's L conversion in every channel.
  const auto grey = random_image(4, 4, 1);
  EXPECT_TRUE(torch::equal(pil::color(grey, 0.0), grey));
  const auto rgb = torch::tensor({255, 0, 0, 0, 255, 0}, torch::kUInt8).view({1, 2, 3});
  const auto g = pil::color(rgb, 0.0);
  EXPECT_EQ(pixel(g, 0, 0, 0), 76);   // 0.299 * 255
  EXPECT_EQ(pixel(g, 0, 0, 2), 76);
  EXPECT_EQ(pixel(g, 0, 1, 1), 150);  // 0.587 * 255
  // Sharpness 0 is ImageFilter.SMOOTH: a lone 255 becomes 255 * 5/13 (98) with 255/13 (20) around
  // it; the border rows and columns are copied.
  auto dot = torch::zeros({5, 5, 1}, torch::kUInt8);
  dot.index_put_({2, 2, 0}, 255);
  const auto smooth = pil::sharpness(dot, 0.0);
  EXPECT_EQ(pixel(smooth, 2, 2), 98);
  EXPECT_EQ(pixel(smooth, 1, 1), 20);
  EXPECT_EQ(pixel(smooth, 3, 2), 20);
  EXPECT_EQ(pixel(smooth, 0, 0), 0);
  const auto sharp = pil::sharpness(dot, 2.0);  // extrapolates away from the smooth image, clipped
  EXPECT_EQ(pixel(sharp, 2, 2), 255);
  EXPECT_EQ(pixel(sharp, 1, 1), 0);
  EXPECT_TRUE(torch::equal(pil::sharpness(constant_image(6, 6, 3, 90), 1.9), constant_image(6, 6, 3, 90)));
}

TEST(DataAugmentOps, GeometricOpsMapPixelCentresAsPil) {
  const std::vector<uint8_t> fill{7, 8, 9};
  for (int64_t c : {1, 3}) {
    const std::vector<uint8_t> f(fill.begin(), fill.begin() + c);
    const auto img = random_image(6, 8, c);
    for (Resample r : {Resample::kNearest, Resample::kBilinear, Resample::kBicubic}) {
      EXPECT_TRUE(torch::equal(pil::rotate(img, 0.0, r, f), img));
      EXPECT_TRUE(torch::equal(pil::rotate(img, -360.0, r, f), img));
      EXPECT_TRUE(torch::equal(pil::shear_x(img, 0.0, r, f), img));
      EXPECT_TRUE(torch::equal(pil::shear_y(img, 0.0, r, f), img));
      // Whole-pixel translations sample pixel centres exactly with every filter.
      const auto tx = pil::translate_x(img, 2.0, r, f);
      EXPECT_TRUE(torch::equal(tx.slice(1, 0, 6), img.slice(1, 2, 8))) << "translate_x, filter " << static_cast<int>(r);
      for (int64_t k = 0; k < c; ++k) EXPECT_TRUE(tx.slice(1, 6, 8).select(2, k).eq(f[k]).all().item<bool>());
      const auto ty = pil::translate_y(img, -3.0, r, f);  // content moves down
      EXPECT_TRUE(torch::equal(ty.slice(0, 3, 6), img.slice(0, 0, 3)));
      for (int64_t k = 0; k < c; ++k) EXPECT_TRUE(ty.slice(0, 0, 3).select(2, k).eq(f[k]).all().item<bool>());
    }
    // 180 degrees turns the image; 90 on a square one is PIL's counter-clockwise transpose.
    EXPECT_TRUE(torch::equal(pil::rotate(img, 180.0, Resample::kNearest, f), img.flip({0, 1})));
    const auto square = random_image(5, 5, c);
    const auto r90 = pil::rotate(square, 90.0, Resample::kBicubic, f);
    EXPECT_EQ(pixel(r90, 0, 0), pixel(square, 0, 4));
    EXPECT_EQ(pixel(r90, 4, 0), pixel(square, 0, 0));
    EXPECT_TRUE(torch::equal(pil::rotate(square, -90.0, Resample::kNearest, f),
                             pil::rotate(pil::rotate(r90, 90.0, Resample::kNearest, f), 90.0, Resample::kNearest, f)));
  }
  // Shear 1 (nearest): row y reads x + y + 1, PIL's fixed-point path; the rest is fill.
  const auto img = random_image(4, 9, 1);
  const auto sheared = pil::shear_x(img, 1.0, Resample::kNearest, {200});
  for (int64_t y = 0; y < 4; ++y) {
    for (int64_t x = 0; x < 9; ++x) {
      const int64_t src = x + y + 1;
      EXPECT_EQ(pixel(sheared, y, x), src < 9 ? pixel(img, y, src) : 200) << y << "," << x;
    }
  }
  // A small rotation keeps the centre of an odd-sized image and fills the corners.
  const auto odd = random_image(9, 9, 3);
  const auto rot = pil::rotate(odd, 30.0, Resample::kNearest, fill);
  EXPECT_TRUE(torch::equal(rot.index({4, 4}), odd.index({4, 4})));
  EXPECT_TRUE(torch::equal(rot.index({0, 0}), torch::tensor({7, 8, 9}, torch::kUInt8)));
  EXPECT_THROW(pil::rotate(odd, 30.0, Resample::kNearest, {1, 2}), mae::Error);  // 2 fill values for 3 channels
  EXPECT_THROW(pil::invert(torch::zeros({4, 4, 2}, torch::kUInt8)), mae::Error);
}

TEST(DataRandAugment, ParsesTimmConfigStrings) {
  const RandAugmentOptions o = mae::data::parse_rand_augment("rand-m9-mstd0.5-inc1");
  EXPECT_EQ(o.magnitude, 9);
  EXPECT_EQ(o.magnitude_std, 0.5);
  EXPECT_TRUE(o.increasing);
  EXPECT_EQ(o.num_ops, 2);
  EXPECT_EQ(o.prob, 0.5);
  EXPECT_EQ(o.magnitude_max, 10);
  const RandAugmentOptions p = mae::data::parse_rand_augment("rand-n3-m5-mmax20-p0.7-inc0-mstd101");
  EXPECT_EQ(p.num_ops, 3);
  EXPECT_EQ(p.magnitude, 5);
  EXPECT_EQ(p.magnitude_max, 20);
  EXPECT_EQ(p.prob, 0.7);
  EXPECT_FALSE(p.increasing);
  EXPECT_TRUE(std::isinf(p.magnitude_std));  // timm: mstd > 100 means uniform in [0, m]
  EXPECT_EQ(mae::data::parse_rand_augment("rand").magnitude, 10);
  EXPECT_EQ(RandAugment(mae::data::parse_rand_augment("rand-inc1")).ops().size(), 15u);
  EXPECT_EQ(RandAugment(mae::data::parse_rand_augment("rand-inc1")).ops()[4], AugmentOp::kPosterizeIncreasing);
  EXPECT_EQ(RandAugment(mae::data::parse_rand_augment("rand")).ops()[4], AugmentOp::kPosterize);
  for (const char* bad : {"", "v0", "original-mstd0.5", "augmix-m5", "rand-x3", "rand-m", "rand-m9.5", "rand-inc2",
                          "rand-w0", "rand--m9", "rand-mstdabc", "rand-m9-", "rand-n1x"}) {
    EXPECT_THROW(mae::data::parse_rand_augment(bad, {}, "data.auto_augment"), mae::UsageError) << bad;
  }
  try {
    mae::data::parse_rand_augment("rand-m9-q3", {}, "data.auto_augment");
    ADD_FAILURE() << "rand-m9-q3 was accepted";
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("data.auto_augment"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'q3'"), std::string::npos) << e.what();
  }
  RandAugmentOptions negative;
  negative.prob = 1.5;
  EXPECT_THROW(RandAugment{negative}, mae::UsageError);
}

TEST(DataRandAugment, EveryOpChangesOrKeepsTheImageAsExpected) {
  // At magnitude 0 the "increasing" list's signed and enhancement ops are identities; at magnitude 9
  // every op changes a low-contrast image (values 60..119), except Color on grey and the decreasing
  // Solarize, whose threshold is then 230.
  const std::set<AugmentOp> identity_at_zero{
      AugmentOp::kRotate, AugmentOp::kSolarizeIncreasing, AugmentOp::kSolarizeAdd, AugmentOp::kColorIncreasing,
      AugmentOp::kContrastIncreasing, AugmentOp::kBrightnessIncreasing, AugmentOp::kSharpnessIncreasing,
      AugmentOp::kShearX, AugmentOp::kShearY, AugmentOp::kTranslateXRel, AugmentOp::kTranslateYRel};
  for (bool increasing : {true, false}) {
    RandAugmentOptions o;
    o.increasing = increasing;
    const RandAugment ra(o);
    for (int64_t c : {1, 3}) {
      const auto img = random_image(32, 24, c, 60, 120);  // over 510 pixels: PIL's equalize step is >= 2
      SampleRng rng(5);
      for (AugmentOp op : ra.ops()) {
        const std::string name = mae::data::augment_op_name(op);
        const auto strong = ra.apply_op(img, op, 9.0, rng);
        EXPECT_EQ(strong.sizes(), img.sizes()) << name;
        const bool kept = op == AugmentOp::kSolarize ||
                          (c == 1 && (op == AugmentOp::kColor || op == AugmentOp::kColorIncreasing));
        EXPECT_EQ(torch::equal(strong, img), kept) << name << " at magnitude 9, " << c << " channels";
        if (increasing) {
          const auto weak = ra.apply_op(img, op, 0.0, rng);
          EXPECT_EQ(torch::equal(weak, img), identity_at_zero.count(op) > 0) << name << " at magnitude 0";
        }
      }
    }
  }
}

TEST(DataRandAugment, DrawsEveryOpWithTimmsProbabilityAndMagnitudeNoise) {
  const RandAugment ra(mae::data::parse_rand_augment("rand-m9-mstd0.5-inc1"));
  const auto img = random_image(12, 12, 3);
  const auto before = img.clone();
  std::map<AugmentOp, int> drawn;
  int applied = 0, total = 0;
  double magnitude_sum = 0;
  std::vector<AugmentStep> trace;
  for (int i = 0; i < 400; ++i) {
    SampleRng rng = SampleRng::for_sample(3, 0, i);
    ra.apply(img, rng, &trace);
    ASSERT_EQ(trace.size(), 2u);
    for (const auto& s : trace) {
      ++drawn[s.op];
      ++total;
      if (!s.applied) continue;
      ++applied;
      magnitude_sum += s.magnitude;
      ASSERT_GE(s.magnitude, 0.0);
      ASSERT_LE(s.magnitude, 10.0);
    }
  }
  EXPECT_TRUE(torch::equal(img, before));  // the input is never written
  EXPECT_EQ(drawn.size(), ra.ops().size());
  EXPECT_NEAR(static_cast<double>(applied) / total, 0.5, 0.06);
  EXPECT_NEAR(magnitude_sum / applied, 9.0, 0.1);  // N(9, 0.5) clipped at 10
}

TEST(DataRandAugment, IsDeterministicPerSampleStream) {
  RandAugmentOptions o = mae::data::parse_rand_augment("rand-m9-mstd0.5-inc1-n3");
  o.resample = Resample::kBicubic;
  o.fill = {124, 116, 104};
  const RandAugment ra(o);
  for (int64_t c : {1, 3}) {
    const auto img = random_image(20, 16, c);
    int differing = 0;
    for (int i = 0; i < 8; ++i) {
      SampleRng a = SampleRng::for_sample(1, 2, i), b = SampleRng::for_sample(1, 2, i), d = SampleRng::for_sample(1, 3, i);
      const auto x = ra.apply(img, a), y = ra.apply(img, b), z = ra.apply(img, d);
      EXPECT_TRUE(torch::equal(x, y));
      EXPECT_EQ(a.next_u64(), b.next_u64());  // the same number of draws
      differing += torch::equal(x, z) ? 0 : 1;
    }
    EXPECT_GE(differing, 6);
  }
}

TEST(DataAugmentOps, MatchPillowBitForBit) {
  // Fixtures: tests/python/make_augment_fixtures.py (Pillow's ImageOps, ImageEnhance, rotate, transform).
  const auto fixture = mae::io::read_safetensors(std::string(MAE_FIXTURE_DIR) + "/augment/pil_ops.safetensors");
  using Op = std::function<torch::Tensor(const torch::Tensor&, const std::vector<uint8_t>&)>;
  std::map<std::string, Op> cases{
      {"autocontrast", [](const auto& x, const auto&) { return pil::auto_contrast(x); }},
      {"equalize", [](const auto& x, const auto&) { return pil::equalize(x); }},
      {"invert", [](const auto& x, const auto&) { return pil::invert(x); }},
      {"posterize_1", [](const auto& x, const auto&) { return pil::posterize(x, 1); }},
      {"posterize_4", [](const auto& x, const auto&) { return pil::posterize(x, 4); }},
      {"solarize_26", [](const auto& x, const auto&) { return pil::solarize(x, 26); }},
      {"solarize_128", [](const auto& x, const auto&) { return pil::solarize(x, 128); }},
      {"solarize_add_40", [](const auto& x, const auto&) { return pil::solarize_add(x, 40); }},
  };
  const std::vector<std::pair<std::string, torch::Tensor (*)(const torch::Tensor&, double)>> enhancers{
      {"color", pil::color}, {"contrast", pil::contrast}, {"brightness", pil::brightness}, {"sharpness", pil::sharpness}};
  for (const auto& [name, op] : enhancers) {
    for (const auto& [text, factor] :
         std::vector<std::pair<std::string, double>>{{"0.19", 0.19}, {"0.73", 0.73}, {"1.81", 1.81}}) {
      cases[name + "_" + text] = [op = op, factor = factor](const auto& x, const auto&) { return op(x, factor); };
    }
  }
  for (const auto& [rname, r] : std::vector<std::pair<std::string, Resample>>{
           {"nearest", Resample::kNearest}, {"bilinear", Resample::kBilinear}, {"bicubic", Resample::kBicubic}}) {
    for (const auto& [text, deg] : std::vector<std::pair<std::string, double>>{
             {"-27.3", -27.3}, {"13.5", 13.5}, {"90.0", 90.0}, {"180.0", 180.0}}) {
      cases["rotate_" + text + "_" + rname] = [r = r, deg = deg](const auto& x, const auto& f) {
        return pil::rotate(x, deg, r, f);
      };
    }
    for (const auto& [text, k] : std::vector<std::pair<std::string, double>>{{"0.27", 0.27}, {"-0.13", -0.13}}) {
      cases["shear_x_" + text + "_" + rname] = [r = r, k = k](const auto& x, const auto& f) {
        return pil::shear_x(x, k, r, f);
      };
    }
    cases["shear_y_0.27_" + rname] = [r = r](const auto& x, const auto& f) { return pil::shear_y(x, 0.27, r, f); };
    for (const auto& [text, px] : std::vector<std::pair<std::string, double>>{{"4.95", 4.95}, {"-2.3", -2.3}}) {
      cases["translate_x_" + text + "_" + rname] = [r = r, px = px](const auto& x, const auto& f) {
        return pil::translate_x(x, px, r, f);
      };
    }
    cases["translate_y_-3.7_" + rname] = [r = r](const auto& x, const auto& f) { return pil::translate_y(x, -3.7, r, f); };
  }
  ASSERT_EQ(fixture.tensors.size(), 2 + 2 * cases.size()) << "fixture and test list differ; rerun the script";
  for (const std::string mode : {"grey", "rgb"}) {
    const auto& input = fixture.tensors.at("input." + mode);
    const std::vector<uint8_t> fill = mode == "grey" ? std::vector<uint8_t>{73} : std::vector<uint8_t>{124, 116, 104};
    for (const auto& [name, op] : cases) {
      const auto& expected = fixture.tensors.at(name + "." + mode);
      const auto got = op(input, fill);
      ASSERT_EQ(got.sizes(), expected.sizes()) << name << "." << mode;
      const auto diff = (got.to(torch::kInt) - expected.to(torch::kInt)).abs();
      EXPECT_EQ(diff.max().item<int>(), 0) << name << "." << mode << ": " << diff.gt(0).sum().item<int64_t>()
                                           << " pixels differ, worst at flat index " << diff.argmax().item<int64_t>();
    }
  }
}
