// Where the attention paths cross over on this machine: forward + backward of one Attention
// module (qkv projection, attention, output projection) by path, sequence length T, head dim d and
// dtype. Paths: plain (ATen ops composed as the official code: the reference), explicit (one
// autograd node, explicit_attention.h: in place through MKL's batched GEMM where it can),
// explicit-copies (the same node with head-major copies and ATen's bmm), sdpa (scaled_dot_product_attention: flash kernel on CPU).
// Prints one CSV row per (dtype, T, d, path): microseconds per call, median of --rounds, the paths
// alternating inside each round. Legend: N batch, T tokens, h heads, d head dim.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>

#include "mae/core/runtime.h"
#include "mae/models/attention.h"
#include "mae/models/explicit_attention.h"
#include "mae/train/precision.h"

int main(int argc, char** argv) {
  std::vector<int64_t> lengths{13, 17, 50, 65, 100, 197, 257}, head_dims{16, 32, 64};
  std::vector<std::string> dtypes{"fp32", "bf16"};
  int64_t heads = 4, tokens_per_call = 8192;
  int rounds = 5, threads = 0;
  CLI::App app{"attention path crossover (CSV on stdout)"};
  app.add_option("--lengths", lengths, "sequence lengths T")->capture_default_str();
  app.add_option("--head-dims", head_dims, "head dims d")->capture_default_str();
  app.add_option("--dtypes", dtypes, "fp32, bf16 (autocast)")->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--tokens", tokens_per_call, "N x T per call (N = tokens / T)")->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  mae::core::configure_host_allocator();
  const int used_threads = mae::core::configure_threads(threads);
  const torch::Device cpu(torch::kCPU);
  std::cout << "dtype,threads,T,head_dim,heads,batch,path,us_per_call\n";
  for (const auto& dtype : dtypes) {
    const auto precision = mae::core::parse_choice(mae::train::kPrecisionNames, dtype, "--dtypes");
    for (const int64_t d : head_dims) {
      for (const int64_t t : lengths) {
        torch::manual_seed(0);
        mae::models::Attention attn(heads * d, heads);
        const int64_t n = std::max<int64_t>(1, tokens_per_call / t);
        const auto x = torch::randn({n, t, heads * d}).requires_grad_(true);  // [N, T, h*d]
        const auto grad = torch::randn({n, t, heads * d});
        const std::vector<std::string> paths{"plain", "explicit", "explicit-copies", "sdpa"};
        std::vector<std::vector<double>> us(paths.size());
        auto once = [&](size_t path) {
          torch::Tensor y;
          {
            mae::train::AutocastGuard autocast(cpu, precision);
            mae::models::set_explicit_attention_in_place(path != 2);
            y = path == 0 ? attn->forward_plain(x) : path <= 2 ? attn->forward_explicit(x) : attn->forward_fused(x);
          }
          y.backward(grad);
          mae::models::set_explicit_attention_in_place(true);
          x.mutable_grad().reset();
          attn->zero_grad(true);
        };
        for (int r = 0; r < rounds + 1; ++r) {
          for (size_t p = 0; p < paths.size(); ++p) {
            const int reps = 5;
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < reps; ++i) once(p);
            const double elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
            if (r > 0) us[p].push_back(elapsed / reps);  // round 0 warms up
          }
        }
        for (size_t p = 0; p < paths.size(); ++p) {
          std::sort(us[p].begin(), us[p].end());
          std::cout << dtype << "," << used_threads << "," << t << "," << d << "," << heads << "," << n << "," << paths[p] << ","
                    << us[p][us[p].size() / 2] << std::endl;
        }
      }
    }
  }
  return 0;
}
