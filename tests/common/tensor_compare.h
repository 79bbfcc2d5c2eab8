// Tensor comparison for tests: on failure, names the tensor and prints the worst element,
// both values and the difference (as llm.c's tests do).
#pragma once

#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mae::testing {

// Passes when |a - e| <= atol + rtol * |e| everywhere and the shapes are equal.
inline ::testing::AssertionResult tensors_close(const std::string& name, const torch::Tensor& actual,
                                                const torch::Tensor& expected, double rtol, double atol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << name << ": shape " << actual.sizes() << " != expected " << expected.sizes();
  }
  auto a = actual.detach().to(torch::kCPU, torch::kFloat64).reshape({-1});
  auto e = expected.detach().to(torch::kCPU, torch::kFloat64).reshape({-1});
  if (a.numel() == 0) return ::testing::AssertionSuccess();
  auto excess = (a - e).abs() - (atol + rtol * e.abs());
  const int64_t worst = excess.argmax().item<int64_t>();
  if (excess[worst].item<double>() <= 0.0 && a.isfinite().all().item<bool>()) return ::testing::AssertionSuccess();
  std::ostringstream out;
  out.precision(17);
  out << name << ": worst element " << worst << " of " << a.numel() << ": got " << a[worst].item<double>()
      << ", expected " << e[worst].item<double>() << ", |diff| " << std::abs(a[worst].item<double>() - e[worst].item<double>())
      << " (rtol " << rtol << ", atol " << atol << "), max |diff| over all " << (a - e).abs().max().item<double>();
  return ::testing::AssertionFailure() << out.str();
}

}  // namespace mae::testing
