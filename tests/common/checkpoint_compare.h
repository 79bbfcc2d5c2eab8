// Checkpoint files compared for tests of exact resume: every tensor of two safetensors files
// equal to the bit, the first difference named with its largest deviation.
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mae/io/safetensors.h"

namespace mae::testing {

inline void expect_bitwise_equal(const std::string& a_path, const std::string& b_path) {
  const auto a = io::read_safetensors(a_path), b = io::read_safetensors(b_path);
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << a_path << " vs " << b_path;
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name << " is missing from " << b_path;
    EXPECT_TRUE(torch::equal(t, b.tensors.at(name)))
        << name << " differs: max |a - b| "
        << (t.to(torch::kFloat64) - b.tensors.at(name).to(torch::kFloat64)).abs().max().item<double>();
  }
}

}  // namespace mae::testing
