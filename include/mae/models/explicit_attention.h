// Attention's core, softmax(q k^T * scale) v, as one autograd node with a hand-written backward,
// for the short sequences of small models on CPU. It computes the official formulation (explicit
// matmuls) with less memory traffic than composing it from ATen ops: one copy puts q, k and v in
// head-major order (instead of one per tensor), the scale rides in the GEMM (baddbmm's alpha,
// no separate multiply), and the backward writes dq, dk, dv into one buffer that one copy turns
// into the gradient of the qkv projection (instead of a concatenation of three strided views).
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

}  // namespace mae::models
