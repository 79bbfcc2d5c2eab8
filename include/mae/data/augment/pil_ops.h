// The PIL image operations that timm's RandAugment applies, with PIL's arithmetic (Pillow's
// ImageOps, ImageEnhance, Image.blend, Image.filter(SMOOTH), Image.transform/rotate), so that an
// augmented image matches what PIL makes of the same pixels and arguments.
// pixels: [H, W, C] uint8 on the CPU, C = 1 (PIL "L") or 3 ("RGB"), any strides. Every op returns a
// new contiguous tensor and never writes to its input.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace mae::data::pil {

// ImageOps.autocontrast(cutoff=0): each channel's [min, max] stretched to [0, 255].
torch::Tensor auto_contrast(const torch::Tensor& pixels);
// ImageOps.equalize: each channel's histogram equalised (PIL's step = (n - last bin) / 255).
torch::Tensor equalize(const torch::Tensor& pixels);
// ImageOps.invert: 255 - v.
torch::Tensor invert(const torch::Tensor& pixels);
// ImageOps.posterize: keep the `bits` high bits (bits >= 8: unchanged, bits <= 0: black).
torch::Tensor posterize(const torch::Tensor& pixels, int bits);
// ImageOps.solarize: v >= threshold becomes 255 - v.
torch::Tensor solarize(const torch::Tensor& pixels, int threshold);
// timm's solarize_add: v < threshold becomes min(255, v + add).
torch::Tensor solarize_add(const torch::Tensor& pixels, int add, int threshold = 128);

// ImageEnhance.*(image).enhance(factor) = Image.blend(degenerate, image, factor), where degenerate is
// the grey image (Color; the identity on grey images), a constant of the rounded grey mean
// (Contrast), black (Brightness), or the SMOOTH-filtered image (Sharpness).
torch::Tensor color(const torch::Tensor& pixels, double factor);
torch::Tensor contrast(const torch::Tensor& pixels, double factor);
torch::Tensor brightness(const torch::Tensor& pixels, double factor);
torch::Tensor sharpness(const torch::Tensor& pixels, double factor);

// PIL's transform filters (Image.NEAREST, BILINEAR, BICUBIC; bicubic with a = -1 as in Geometry.c).
enum class Resample { kNearest, kBilinear, kBicubic };

// Image.transform(size, AFFINE, m, resample, fillcolor=fill): output pixel (x, y) reads the input at
// (m0 x' + m1 y' + m2, m3 x' + m4 y' + m5) with x' = x + 0.5, y' = y + 0.5; pixels that read outside
// the input get `fill` (one value per channel, or one for all).
torch::Tensor affine(const torch::Tensor& pixels, const std::array<double, 6>& m, Resample resample,
                     const std::vector<uint8_t>& fill);
// Image.rotate(degrees, resample, fillcolor=fill): counter-clockwise about the centre, same size.
torch::Tensor rotate(const torch::Tensor& pixels, double degrees, Resample resample, const std::vector<uint8_t>& fill);
// timm's shear_x / shear_y (factor: x' = x + factor * y) and translate by whole-image pixels
// (positive moves the content left / up).
torch::Tensor shear_x(const torch::Tensor& pixels, double factor, Resample resample, const std::vector<uint8_t>& fill);
torch::Tensor shear_y(const torch::Tensor& pixels, double factor, Resample resample, const std::vector<uint8_t>& fill);
torch::Tensor translate_x(const torch::Tensor& pixels, double offset, Resample resample,
                          const std::vector<uint8_t>& fill);
torch::Tensor translate_y(const torch::Tensor& pixels, double offset, Resample resample,
                          const std::vector<uint8_t>& fill);

}  // namespace mae::data::pil
