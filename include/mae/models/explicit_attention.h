// Attention's core, softmax(q k^T * scale) v, as one autograd node with a hand-written backward,
// for the short sequences of small models on CPU. It computes the official formulation (explicit
// matmuls) with less memory traffic than composing it from ATen ops: one copy puts q, k and v in
// head-major order (instead of one per tensor), the scale rides in the GEMM (baddbmm's alpha,
// no separate multiply), and the backward writes dq, dk, dv into one buffer that one copy turns
// into the gradient of the qkv projection (instead of a concatenation of three strided views).
// In fp32 and fp64 on CPU, where MKL's batched GEMM over pointer lists is in the process
// (core/gemm_batch.h), there are no copies at all: every head is read in place from the qkv
// projection's output and written in place into the output, and the same in the backward.
// In fp32 the softmax, forward and backward, is kernels/softmax.h where it runs (ATen's otherwise).
// Legend: N batch, T tokens, D width, h heads, d = D/h.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mae::models {

// qkv: [N, T, 3D] (the qkv projection's output, q | k | v along the last dim, each h x d)
// -> [N, T, D], heads concatenated in order (the input of the output projection).
torch::Tensor explicit_attention(const torch::Tensor& qkv, int64_t num_heads, double scale);

// How many times explicit_attention ran since the start of the process (tests check that the path
// they mean to measure ran).
int64_t explicit_attention_calls();
// How many of those ran in place (without the head-major copies).
int64_t explicit_attention_in_place_calls();

// Switches the in-place path (on by default where available) off, for tests and benchmarks that
// compare it with the copying one.
void set_explicit_attention_in_place(bool enabled);

}  // namespace mae::models
