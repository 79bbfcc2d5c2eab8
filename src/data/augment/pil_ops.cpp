#include "mae/data/augment/pil_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mae/core/error.h"
#include "mae/data/codecs/image.h"

// Dimension letters: H, W image size, C channels (1 or 3); pixel (y, x, c) lives at (y * W + x) * C + c.
namespace mae::data::pil {
namespace {

using Lut = std::array<uint8_t, 256>;
using Histogram = std::array<int64_t, 256>;

torch::Tensor checked(const torch::Tensor& pixels, const char* op) {
  MAE_CHECK(pixels.defined(), "pil::", op, ": no pixels given");
  MAE_CHECK(pixels.dim() == 3 && pixels.scalar_type() == torch::kUInt8 && (pixels.size(2) == 1 || pixels.size(2) == 3) &&
                pixels.device().is_cpu(),
            "pil::", op, " expects [H, W, 1 or 3] uint8 pixels on the CPU, got ", pixels.sizes(), " ",
            pixels.scalar_type(), " on ", pixels.device());
  return pixels.contiguous();
}

std::vector<Histogram> histograms(const torch::Tensor& src) {
  const int64_t C = src.size(2), n = src.size(0) * src.size(1);
  std::vector<Histogram> h(static_cast<size_t>(C));
  for (auto& hc : h) hc.fill(0);
  const uint8_t* p = src.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < C; ++c) ++h[c][p[i * C + c]];
  }
  return h;
}

// One table per channel.
torch::Tensor apply_luts(const torch::Tensor& src, const std::vector<Lut>& luts) {
  const int64_t C = src.size(2), n = src.size(0) * src.size(1);
  auto out = torch::empty_like(src);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < C; ++c) o[i * C + c] = luts[c][in[i * C + c]];
  }
  return out;
}

template <typename F>
torch::Tensor map_values(const torch::Tensor& pixels, const char* op, F f) {
  const auto src = checked(pixels, op);
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<uint8_t>(std::clamp(f(v), 0, 255));
  return apply_luts(src, std::vector<Lut>(static_cast<size_t>(src.size(2)), lut));
}

Lut identity_lut() {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<uint8_t>(v);
  return lut;
}

// Image.blend(degenerate, image, factor) with ImagingBlend's float arithmetic: truncation inside
// [0, 1], clipping outside it.
torch::Tensor blend(const torch::Tensor& degenerate, const torch::Tensor& image, double factor) {
  const float alpha = static_cast<float>(factor);
  if (alpha == 0.0f) return degenerate.clone();
  if (alpha == 1.0f) return image.clone();
  auto out = torch::empty_like(image);
  const uint8_t* d = degenerate.data_ptr<uint8_t>();
  const uint8_t* im = image.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t n = image.numel();
  if (alpha >= 0.0f && alpha <= 1.0f) {
    for (int64_t i = 0; i < n; ++i) {
      const int a = d[i], b = im[i];
      o[i] = static_cast<uint8_t>(static_cast<float>(a) + alpha * static_cast<float>(b - a));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const int a = d[i], b = im[i];
      const float v = static_cast<float>(a) + alpha * static_cast<float>(b - a);
      o[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
  return out;
}

// ImageFilter.SMOOTH (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1, divided by 13 in float) as ImagingFilter3x3
// computes it: float sums with a +0.5 rounding offset; the one-pixel border is copied.
torch::Tensor smooth(const torch::Tensor& src) {
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  auto out = src.clone();
  if (H < 3 || W < 3) return out;  // PIL returns a copy when the image is smaller than the kernel
  const float k1 = static_cast<float>(1.0 / 13.0), k5 = static_cast<float>(5.0 / 13.0);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t row = W * C;
  for (int64_t y = 1; y < H - 1; ++y) {
    const uint8_t* up = in + (y - 1) * row;
    const uint8_t* mid = in + y * row;
    const uint8_t* down = in + (y + 1) * row;
    uint8_t* dst = o + y * row;
    // Interleaved channels: the neighbours of element i are i - C and i + C.
    for (int64_t i = C; i < row - C; ++i) {
      float ss = 0.5f;
      ss += static_cast<float>(down[i - C]) * k1 + static_cast<float>(down[i]) * k1 + static_cast<float>(down[i + C]) * k1;
      ss += static_cast<float>(mid[i - C]) * k1 + static_cast<float>(mid[i]) * k5 + static_cast<float>(mid[i + C]) * k1;
      ss += static_cast<float>(up[i - C]) * k1 + static_cast<float>(up[i]) * k1 + static_cast<float>(up[i + C]) * k1;
      dst[i] = static_cast<uint8_t>(std::min(std::max(ss, 0.0f), 255.0f));
    }
  }
  return out;
}

// An output image of the input's size filled with `fill` (one value, or one per channel).
torch::Tensor filled_like(const torch::Tensor& src, const std::vector<uint8_t>& fill) {
  const int64_t C = src.size(2);
  MAE_CHECK(fill.size() == 1 || static_cast<int64_t>(fill.size()) == C, "pil: fill has ", fill.size(),
            " values for an image of ", C, " channels; give one value or one per channel");
  auto out = torch::empty_like(src);
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t n = src.size(0) * src.size(1);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < C; ++c) o[i * C + c] = fill[fill.size() == 1 ? 0 : c];
  }
  return out;
}

// PIL's COORD: negative -> -1 (outside), else truncation.
int coord(double v) { return v < 0.0 ? -1 : static_cast<int>(v); }
int pil_floor(double v) { return static_cast<int>(std::floor(v)); }

// Nearest neighbour as ImagingTransformAffine does it: a pure scale/translation pretabulates the
// columns (ImagingScaleAffine); otherwise 16.16 fixed point when the corners fit (affine_fixed),
// else floating point.
void affine_nearest(const torch::Tensor& src, const std::array<double, 6>& a, torch::Tensor& out) {
  const int H = static_cast<int>(src.size(0)), W = static_cast<int>(src.size(1));
  const int64_t C = src.size(2);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  auto copy_pixel = [&](int y, int x, int yin, int xin) {
    std::memcpy(o + (static_cast<int64_t>(y) * W + x) * C, in + (static_cast<int64_t>(yin) * W + xin) * C,
                static_cast<size_t>(C));
  };
  if (a[1] == 0 && a[3] == 0) {
    std::vector<int> xin(static_cast<size_t>(W), -1);
    double xo = a[2] + a[0] * 0.5;
    for (int x = 0; x < W; ++x, xo += a[0]) {
      const int v = coord(xo);
      if (v >= 0 && v < W) xin[x] = v;
    }
    double yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < H; ++y, yo += a[4]) {
      const int yi = coord(yo);
      if (yi < 0 || yi >= H) continue;
      for (int x = 0; x < W; ++x) {
        if (xin[x] >= 0) copy_pixel(y, x, yi, xin[x]);
      }
    }
    return;
  }
  auto fits = [&](double x, double y) {
    return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
  };
  if (fits(0, 0) && fits(W, H) && fits(0, H) && fits(W, 0)) {
    auto fix = [](double v) { return static_cast<int32_t>(pil_floor(v * 65536.0 + 0.5)); };
    const int32_t a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4]);
    int32_t a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < H; ++y, a2 += a1, a5 += a4) {
      int32_t xx = a2, yy = a5;
      for (int x = 0; x < W; ++x, xx += a0, yy += a3) {
        const int32_t xi = xx >> 16, yi = yy >> 16;  // arithmetic shift: floor
        if (xi >= 0 && xi < W && yi >= 0 && yi < H) copy_pixel(y, x, yi, xi);
      }
    }
    return;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < H; ++y, xo += a[1], yo += a[4]) {
    double xx = xo, yy = yo;
    for (int x = 0; x < W; ++x, xx += a[0], yy += a[3]) {
      const int xi = coord(xx), yi = coord(yy);
      if (xi >= 0 && xi < W && yi >= 0 && yi < H) copy_pixel(y, x, yi, xi);
    }
  }
}

double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// ImagingGenericTransform with bilinear_filter / bicubic_filter: each output pixel centre mapped; a
// centre outside the input keeps the fill; neighbours beyond the edge repeat the edge pixel (PIL
// reuses the previous row's value there, which is the same thing).
void affine_filtered(const torch::Tensor& src, const std::array<double, 6>& a, Resample resample, torch::Tensor& out) {
  const int H = static_cast<int>(src.size(0)), W = static_cast<int>(src.size(1));
  const int64_t C = src.size(2);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  auto xclip = [&](int x) { return x < 0 ? 0 : x < W ? x : W - 1; };
  auto yclip = [&](int y) { return y < 0 ? 0 : y < H ? y : H - 1; };
  const bool bicubic = resample == Resample::kBicubic;
  const int taps = bicubic ? 4 : 2;
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const double xo = x + 0.5, yo = y + 0.5;
      double xin = a[0] * xo + a[1] * yo + a[2];
      double yin = a[3] * xo + a[4] * yo + a[5];
      if (xin < 0.0 || xin >= W || yin < 0.0 || yin >= H) continue;
      xin -= 0.5;
      yin -= 0.5;
      const int ix = pil_floor(xin) - (bicubic ? 1 : 0), iy = pil_floor(yin) - (bicubic ? 1 : 0);
      const double dx = xin - pil_floor(xin), dy = yin - pil_floor(yin);
      const uint8_t* rows[4];
      int64_t cols[4];
      for (int k = 0; k < taps; ++k) {
        rows[k] = in + static_cast<int64_t>(yclip(iy + k)) * W * C;
        cols[k] = static_cast<int64_t>(xclip(ix + k)) * C;
      }
      uint8_t* dst = o + (static_cast<int64_t>(y) * W + x) * C;
      for (int64_t c = 0; c < C; ++c) {
        if (!bicubic) {
          const double v1 = rows[0][cols[0] + c] + (rows[0][cols[1] + c] - rows[0][cols[0] + c]) * dx;
          const double v2 = rows[1][cols[0] + c] + (rows[1][cols[1] + c] - rows[1][cols[0] + c]) * dx;
          dst[c] = static_cast<uint8_t>(v1 + (v2 - v1) * dy);
          continue;
        }
        double v[4];
        for (int k = 0; k < 4; ++k) {
          const uint8_t* r = rows[k] + c;
          v[k] = cubic(r[cols[0]], r[cols[1]], r[cols[2]], r[cols[3]], dx);
        }
        const double value = cubic(v[0], v[1], v[2], v[3], dy);
        dst[c] = value <= 0.0 ? 0 : value >= 255.0 ? 255 : static_cast<uint8_t>(value);
      }
    }
  }
}

// Python's round(v, 15): the nearest double to v correctly rounded to 15 decimals.
double round15(double v) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.15f", v);
  return std::strtod(text, nullptr);
}

// Image.transpose(ROTATE_90 / ROTATE_180 / ROTATE_270): exact quarter turns, counter-clockwise.
torch::Tensor quarter_turns(const torch::Tensor& src, int turns) {
  // rot90 on dims (0, 1) turns rows into columns the way PIL's counter-clockwise transposes do.
  return torch::rot90(src, turns, {0, 1}).contiguous();
}

}  // namespace

torch::Tensor auto_contrast(const torch::Tensor& pixels) {
  const auto src = checked(pixels, "auto_contrast");
  std::vector<Lut> luts;
  for (const auto& h : histograms(src)) {
    int lo = 0, hi = 255;
    while (lo < 256 && h[lo] == 0) ++lo;
    while (hi >= 0 && h[hi] == 0) --hi;
    if (hi <= lo) {
      luts.push_back(identity_lut());
      continue;
    }
    const double scale = 255.0 / (hi - lo), offset = -lo * scale;
    Lut lut;
    for (int v = 0; v < 256; ++v) {
      lut[v] = static_cast<uint8_t>(std::clamp(static_cast<int>(v * scale + offset), 0, 255));
    }
    luts.push_back(lut);
  }
  return apply_luts(src, luts);
}

torch::Tensor equalize(const torch::Tensor& pixels) {
  const auto src = checked(pixels, "equalize");
  std::vector<Lut> luts;
  for (const auto& h : histograms(src)) {
    int64_t total = 0, last = 0, used = 0;
    for (int v = 0; v < 256; ++v) {
      if (h[v] == 0) continue;
      total += h[v];
      last = h[v];
      ++used;
    }
    const int64_t step = used <= 1 ? 0 : (total - last) / 255;
    if (step == 0) {
      luts.push_back(identity_lut());
      continue;
    }
    Lut lut;
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      lut[v] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));  // PIL clips the table to 8 bits
      n += h[v];
    }
    luts.push_back(lut);
  }
  return apply_luts(src, luts);
}

torch::Tensor invert(const torch::Tensor& pixels) {
  return map_values(pixels, "invert", [](int v) { return 255 - v; });
}

torch::Tensor posterize(const torch::Tensor& pixels, int bits) {
  if (bits >= 8) return checked(pixels, "posterize").clone();
  const int mask = bits <= 0 ? 0 : ~((1 << (8 - bits)) - 1) & 0xff;
  return map_values(pixels, "posterize", [mask](int v) { return v & mask; });
}

torch::Tensor solarize(const torch::Tensor& pixels, int threshold) {
  return map_values(pixels, "solarize", [threshold](int v) { return v < threshold ? v : 255 - v; });
}

torch::Tensor solarize_add(const torch::Tensor& pixels, int add, int threshold) {
  return map_values(pixels, "solarize_add", [add, threshold](int v) { return v < threshold ? std::min(255, v + add) : v; });
}

torch::Tensor color(const torch::Tensor& pixels, double factor) {
  const auto src = checked(pixels, "color");
  if (src.size(2) == 1) return src.clone();  // L -> L -> L is the image itself
  return blend(convert_channels(src, 1).expand({src.size(0), src.size(1), 3}).contiguous(), src, factor);
}

torch::Tensor contrast(const torch::Tensor& pixels, double factor) {
  const auto src = checked(pixels, "contrast");
  const auto grey = src.size(2) == 1 ? src : convert_channels(src, 1);
  const auto h = histograms(grey)[0];
  double sum = 0;
  for (int v = 0; v < 256; ++v) sum += static_cast<double>(v) * static_cast<double>(h[v]);
  const int mean = static_cast<int>(sum / static_cast<double>(grey.numel()) + 0.5);  // ImageStat mean, rounded
  return blend(torch::full_like(src, mean), src, factor);
}

torch::Tensor brightness(const torch::Tensor& pixels, double factor) {
  const auto src = checked(pixels, "brightness");
  return blend(torch::zeros_like(src), src, factor);
}

torch::Tensor sharpness(const torch::Tensor& pixels, double factor) {
  const auto src = checked(pixels, "sharpness");
  return blend(smooth(src), src, factor);
}

torch::Tensor affine(const torch::Tensor& pixels, const std::array<double, 6>& m, Resample resample,
                     const std::vector<uint8_t>& fill) {
  const auto src = checked(pixels, "affine");
  auto out = filled_like(src, fill);
  if (resample == Resample::kNearest) {
    affine_nearest(src, m, out);
  } else {
    affine_filtered(src, m, resample, out);
  }
  return out;
}

torch::Tensor rotate(const torch::Tensor& pixels, double degrees, Resample resample, const std::vector<uint8_t>& fill) {
  const auto src = checked(pixels, "rotate");
  // Python's float modulo: the result takes the divisor's sign.
  double angle = std::fmod(degrees, 360.0);
  if (angle != 0 && angle < 0) angle += 360.0;
  if (angle == 0) return src.clone();
  if (angle == 180) return quarter_turns(src, 2);
  if ((angle == 90 || angle == 270) && src.size(0) == src.size(1)) return quarter_turns(src, angle == 90 ? 1 : 3);
  const double w = static_cast<double>(src.size(1)), h = static_cast<double>(src.size(0));
  const double cx = w / 2.0, cy = h / 2.0;
  const double rad = -(angle * (M_PI / 180.0));
  std::array<double, 6> m{round15(std::cos(rad)), round15(std::sin(rad)), 0.0,
                          round15(-std::sin(rad)), round15(std::cos(rad)), 0.0};
  m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
  m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
  return affine(src, m, resample, fill);
}

torch::Tensor shear_x(const torch::Tensor& pixels, double factor, Resample resample, const std::vector<uint8_t>& fill) {
  return affine(pixels, {1, factor, 0, 0, 1, 0}, resample, fill);
}

torch::Tensor shear_y(const torch::Tensor& pixels, double factor, Resample resample, const std::vector<uint8_t>& fill) {
  return affine(pixels, {1, 0, 0, factor, 1, 0}, resample, fill);
}

torch::Tensor translate_x(const torch::Tensor& pixels, double offset, Resample resample,
                          const std::vector<uint8_t>& fill) {
  return affine(pixels, {1, 0, offset, 0, 1, 0}, resample, fill);
}

torch::Tensor translate_y(const torch::Tensor& pixels, double offset, Resample resample,
                          const std::vector<uint8_t>& fill) {
  return affine(pixels, {1, 0, 0, 0, 1, offset}, resample, fill);
}

}  // namespace mae::data::pil
