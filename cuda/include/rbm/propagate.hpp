// A layer's hidden units for many rows at once, on the device: what the layer above in a stack (a Deep
// Belief Network) trains on, computed where the layer trained, so its rows never visit the host.
#pragma once

#include <cstdint>

#include "rbm/gemm.hpp"
#include "rbm/resources.hpp"

namespace rbm {

// The weights of one layer on the device: W [nv, nh] row-major, hb [nh], sigma [nv] for Gaussian
// visible units (null for Bernoulli ones).
struct layer_view {
  int nv = 0, nh = 0;
  const float* w = nullptr;
  const float* hb = nullptr;
  const float* sigma = nullptr;
};

// out [rows, nh] = p(h | v) = sigmoid(v' W + hb) of rows v [rows, nv] (device, row-major), v' = v / sigma
// for Gaussian visible units; with `sample`, the states [u < p] instead, u the elements
// first_draw + r nh + j of the Philox uniform sequence for `seed` (rbm::philox_generator; the CPU's
// cpu::philox_uniforms gives the same numbers), first_draw a multiple of 4. Works through the rows in
// chunks (scratch: a chunk of uniforms, and of v' with sigma); asynchronous on `s`, the handle's stream.
// Throws cuda_error / cublas_error / curand_error, out_of_memory for the scratch.
void propagate_rows(const cublas_handle& h, gemm_mode mode, const layer_view& layer, const float* v, int rows,
                    bool sample, std::uint64_t seed, std::uint64_t first_draw, float* out, stream_view s);

}  // namespace rbm
