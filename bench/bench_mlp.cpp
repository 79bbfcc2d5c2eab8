// The transformer MLP (fc1 -> GELU -> fc2) by path: aten (addmm + gelu, as the official code) and
// fused (fc1's GEMM without bias, then bias + GELU in one pass, kernels/bias_gelu.h), for the MLPs
// of the small CPU models. Prints one CSV row per (shape, path): microseconds per forward and per
// forward + backward, medians of --rounds, the paths alternating inside each round.
// Legend: M rows (batch x tokens), K width, H hidden (4K).
#include <algorithm>
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>

#include "mae/core/runtime.h"
#include "mae/kernels/bias_gelu.h"
#include "mae/models/mlp.h"

namespace {

struct Shape {
  const char* name;
  int64_t rows, width;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7, threads = 0, reps = 5;
  CLI::App app{"MLP fc1 bias + GELU: ATen against the fused kernel (CSV on stdout)"};
  app.add_option("--rounds", rounds)->capture_default_str();
  app.add_option("--reps", reps, "calls per timing")->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  mae::core::configure_host_allocator();
  const int used_threads = mae::core::configure_threads(threads);
  if (!mae::kernels::available()) {
    std::cerr << "the fused bias + GELU kernel is not available on this machine (needs AVX-512)\n";
    return 1;
  }
  // Batch 256: the demo (28 px, patch 4: 13 visible tokens, 50 in the decoder) and ViT-Tiny at
  // 32 px, patch 4 (17 and 65).
  const std::vector<Shape> shapes{{"demo-encoder", 256 * 13, 128}, {"demo-decoder", 256 * 50, 64},
                                  {"tiny-encoder", 256 * 17, 192}, {"tiny-decoder", 256 * 65, 128}};
  std::cout << "shape,threads,M,K,H,path,forward_us,forward_backward_us\n";
  for (const auto& s : shapes) {
    torch::manual_seed(0);
    mae::models::Mlp mlp(s.width, 4 * s.width);
    const auto x = torch::randn({s.rows, s.width}).requires_grad_(true);  // [M, K]
    const auto grad = torch::randn({s.rows, s.width});
    const std::vector<std::string> paths{"aten", "fused"};
    std::vector<std::vector<double>> fwd(paths.size()), step(paths.size());
    auto time_us = [&](auto&& fn) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) fn();
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    };
    for (int r = 0; r < rounds + 1; ++r) {  // round 0 warms up
      for (size_t p = 0; p < paths.size(); ++p) {
        mae::models::set_mlp_fused_bias_gelu(p == 1);
        const double f = time_us([&] {
          torch::NoGradGuard no_grad;
          mlp->forward(x);
        });
        const double fb = time_us([&] {
          mlp->forward(x).backward(grad);
          x.mutable_grad().reset();
          mlp->zero_grad(true);
        });
        if (r > 0) fwd[p].push_back(f), step[p].push_back(fb);
      }
    }
    mae::models::set_mlp_fused_bias_gelu(true);
    for (size_t p = 0; p < paths.size(); ++p) {
      std::cout << s.name << "," << used_threads << "," << s.rows << "," << s.width << "," << 4 * s.width << ","
                << paths[p] << "," << median(fwd[p]) << "," << median(step[p]) << std::endl;
    }
  }
  return 0;
}
