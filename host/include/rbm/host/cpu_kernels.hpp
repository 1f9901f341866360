// The CPU backend's element-wise passes, compiled on their own with -ffast-math so that the shared
// sigmoid vectorises (glibc's vector expf), and cloned for AVX2 where the processor has it. Each
// element's result depends on nothing but its inputs (the error sum: on its inputs and their order).
// The backend calls them from its thread team, each thread on its own rows.
#pragma once

#include <cstddef>

namespace rbm::cpu {

// x[r, c] = sigmoid(x[r, c] + bias[c]) for x [rows, cols].
void sigmoid_rows(float* x, const float* bias, int rows, int cols);

// out[i] = (u[i] < p[i]) for n elements; `out` may alias `p`.
void sample(const float* p, const float* u, std::size_t n, float* out);

// sum of (a[i] - b[i])^2 (the reconstruction error): float lanes over blocks of 1024, blocks in double.
double squared_error(const float* a, const float* b, std::size_t n);

// The weight step after the gradient GEMMs have accumulated into vel (scaled by momentum through their
// beta): vel -= decay * w; w += vel — one pass over both arrays.
void apply_weight_step(float* w, float* vel, std::size_t n, float decay);

}  // namespace rbm::cpu
