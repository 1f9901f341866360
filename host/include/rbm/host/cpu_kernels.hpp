// The CPU backend's element-wise passes, compiled on their own with -ffast-math so that the shared
// sigmoid vectorises (glibc's vector expf), and cloned for AVX2 where the processor has it. Each
// element's result depends on nothing but its inputs. They run on one thread: OpenBLAS's threads
// own the cores, and a second thread pool competing with them cost more than it saved.
#pragma once

#include <cstddef>

namespace rbm::cpu {

// x[r, c] = sigmoid(x[r, c] + bias[c]) for x [rows, cols].
void sigmoid_rows(float* x, const float* bias, int rows, int cols);

// out[i] = (u[i] < p[i]) for n elements; `out` may alias `p`.
void sample(const float* p, const float* u, std::size_t n, float* out);

// The weight step after the gradient GEMMs have accumulated into vel (scaled by momentum through their
// beta): vel -= decay * w; w += vel — one pass over both arrays.
void apply_weight_step(float* w, float* vel, std::size_t n, float decay);

}  // namespace rbm::cpu
