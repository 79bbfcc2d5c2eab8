// Dataset statistics for Normalize: per-channel mean and std of pixel / pixel_range over every
// pixel of the chosen samples at native size (torchvision's convention). 8-bit pixels are summed
// exactly in integers; 16-bit and float ones in float64.
#include <atomic>
#include <cmath>
#include <thread>

#include "mae/core/error.h"
#include "mae/core/runtime.h"
#include "mae/core/log.h"
#include "mae/data/factory.h"
#include "mae/data/codecs/image_decode.h"

namespace mae::data {
namespace {

struct Sums {
  std::vector<uint64_t> sum, sum_sq;    // uint8 pixels, raw values
  std::vector<double> fsum, fsum_sq;    // other pixels, already divided by their range
  uint64_t pixels = 0, float_pixels = 0;
  int64_t skipped = 0;
  explicit Sums(int64_t channels) : sum(channels, 0), sum_sq(channels, 0), fsum(channels, 0), fsum_sq(channels, 0) {}
  void add(const Sums& o) {
    for (size_t c = 0; c < sum.size(); ++c) {
      sum[c] += o.sum[c], sum_sq[c] += o.sum_sq[c], fsum[c] += o.fsum[c], fsum_sq[c] += o.fsum_sq[c];
    }
    pixels += o.pixels;
    float_pixels += o.float_pixels;
  }
};

void accumulate_8bit(const torch::Tensor& pixels, Sums* sums) {
  const auto p = pixels.contiguous();
  const int64_t channels = p.size(2), n = p.size(0) * p.size(1);
  const uint8_t* data = p.data_ptr<uint8_t>();
  for (int64_t c = 0; c < channels; ++c) {
    uint64_t s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t v = data[i * channels + c];
      s += v;
      s2 += v * v;
    }
    sums->sum[c] += s;
    sums->sum_sq[c] += s2;
  }
}

// pixels: [H, W, C] of any pixel type; values / range.
void accumulate_float(const torch::Tensor& pixels, double range, Sums* sums) {
  const auto v = pixels.to(torch::kFloat64).reshape({-1, pixels.size(2)}) / range;  // [H*W, C]
  const auto s = v.sum(0).contiguous(), s2 = v.square().sum(0).contiguous();
  for (int64_t c = 0; c < pixels.size(2); ++c) {
    sums->fsum[c] += s[c].item<double>();
    sums->fsum_sq[c] += s2[c].item<double>();
  }
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> compute_mean_std(const DataOptions& options, Split split,
                                                                     int64_t in_chans, int64_t max_samples) {
  MAE_CHECK_USAGE(in_chans >= 1, "mean/std: ", in_chans, " channels asked; give model.in_chans or --channels >= 1");
  const auto source = make_source(options.source, split);
  const int64_t n = source->size();
  const int64_t count = max_samples > 0 ? std::min(max_samples, n) : n;
  const int64_t configured = options.num_workers;
  const int64_t threads = std::max<int64_t>(
      1, std::min<int64_t>(count, configured > 0 ? configured : core::usable_cores()));
  const double range_8bit = options.transform.pixel_range > 0 ? options.transform.pixel_range : 255.0;
  std::vector<Sums> partial(static_cast<size_t>(threads), Sums(in_chans));
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int64_t k = next++; k < count; k = next++) {
          const int64_t index = k * n / count;  // evenly spaced over the dataset
          try {
            const auto pixels = decode_full(source->open(index), in_chans);
            const auto dtype = pixels.scalar_type();
            if (dtype == torch::kUInt8) {
              accumulate_8bit(pixels, &partial[t]);
            } else {
              const double range = options.transform.pixel_range > 0 ? options.transform.pixel_range : default_pixel_range(dtype);
              accumulate_float(pixels, range, &partial[t]);
              partial[t].float_pixels += static_cast<uint64_t>(pixels.size(0) * pixels.size(1));
            }
            partial[t].pixels += static_cast<uint64_t>(pixels.size(0) * pixels.size(1));
          } catch (const DataError& e) {
            ++partial[t].skipped;
            core::log_warning(str("data: skipping unreadable sample: ", e.what()));
          }
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  Sums total(in_chans);
  for (const auto& p : partial) total.add(p);
  MAE_CHECK(total.pixels > 0, "mean/std: no readable sample among the ", count, " read; check the data");
  std::vector<double> mean(in_chans), std(in_chans);
  const double pixels = static_cast<double>(total.pixels);
  for (int64_t c = 0; c < in_chans; ++c) {
    const double m8 = static_cast<double>(total.sum[c]) / pixels;
    const double sq8 = static_cast<double>(total.sum_sq[c]) / pixels;
    if (total.float_pixels == 0) {  // 8-bit only: the variance of the raw values, then scaled
      mean[c] = m8 / range_8bit;
      std[c] = std::sqrt(std::max(0.0, sq8 - m8 * m8)) / range_8bit;
      continue;
    }
    const double m = m8 / range_8bit + total.fsum[c] / pixels;
    const double sq = sq8 / (range_8bit * range_8bit) + total.fsum_sq[c] / pixels;
    mean[c] = m;
    std[c] = std::sqrt(std::max(0.0, sq - m * m));
  }
  return {mean, std};
}

}  // namespace mae::data
