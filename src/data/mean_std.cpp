// Dataset statistics for Normalize: per-channel mean and std of pixel / 255 over every pixel of
// the chosen samples at native size (torchvision's convention), summed exactly in integers.
#include <atomic>
#include <cmath>
#include <thread>

#include "mae/core/error.h"
#include "mae/core/runtime.h"
#include "mae/core/log.h"
#include "mae/data/factory.h"
#include "mae/data/image_decode.h"

namespace mae::data {
namespace {

struct Sums {
  std::vector<uint64_t> sum, sum_sq;
  uint64_t pixels = 0;
  int64_t skipped = 0;
  explicit Sums(int64_t channels) : sum(channels, 0), sum_sq(channels, 0) {}
};

void accumulate(const torch::Tensor& pixels, Sums* sums) {
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
  sums->pixels += static_cast<uint64_t>(n);
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> compute_mean_std(const DataOptions& options, Split split,
                                                                     int64_t in_chans, int64_t max_samples) {
  MAE_CHECK_USAGE(in_chans == 1 || in_chans == 3, "mean/std: ", in_chans, " channels asked; images give 1 or 3");
  const auto source = make_source(options.source, split);
  const int64_t n = source->size();
  const int64_t count = max_samples > 0 ? std::min(max_samples, n) : n;
  const int64_t configured = options.num_workers;
  const int64_t threads = std::max<int64_t>(
      1, std::min<int64_t>(count, configured > 0 ? configured : core::usable_cores()));
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
            accumulate(decode_full(source->open(index), in_chans), &partial[t]);
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
  for (const auto& p : partial) {
    for (int64_t c = 0; c < in_chans; ++c) {
      total.sum[c] += p.sum[c];
      total.sum_sq[c] += p.sum_sq[c];
    }
    total.pixels += p.pixels;
  }
  MAE_CHECK(total.pixels > 0, "mean/std: no readable sample among the ", count, " read; check the data");
  std::vector<double> mean(in_chans), std(in_chans);
  for (int64_t c = 0; c < in_chans; ++c) {
    const double pixels = static_cast<double>(total.pixels);
    const double m = static_cast<double>(total.sum[c]) / pixels;
    const double var = static_cast<double>(total.sum_sq[c]) / pixels - m * m;
    mean[c] = m / 255.0;
    std[c] = std::sqrt(std::max(0.0, var)) / 255.0;
  }
  return {mean, std};
}

}  // namespace mae::data
