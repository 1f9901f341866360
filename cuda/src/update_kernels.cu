// Parameter updates: the fused bias step (column reduction + momentum + sparsity) and the two
// element-wise passes around the weight-gradient GEMMs.
#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"

namespace rbm {
namespace {

// One thread per column; consecutive threads read consecutive columns of each row, so every row is
// read coalesced. Batches are at most a few thousand rows, so the serial loop over rows is short.
__global__ void bias_update_kernel(const float* __restrict__ pos, const float* __restrict__ neg,
                                   const float* __restrict__ act, int rows, int cols, float lr, float momentum,
                                   float target, float cost, float* __restrict__ vel, float* __restrict__ bias) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float g = 0.0f, q = 0.0f;
  for (int r = 0; r < rows; ++r) {
    const std::size_t i = std::size_t(r) * cols + c;
    g += pos[i] - neg[i];
    if (act != nullptr) q += act[i];
  }
  const float inv = 1.0f / rows;
  g *= inv;
  if (cost > 0.0f) g += cost * (target - q * inv);
  const float v = momentum * vel[c] + lr * g;
  vel[c] = v;
  bias[c] += v;
}

__global__ void decay_velocity_kernel(float* __restrict__ vel, const float* __restrict__ w, std::size_t n,
                                      float momentum, float decay) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    vel[i] = momentum * vel[i] - decay * w[i];
}

__global__ void add_inplace_kernel(float* __restrict__ w, const float* __restrict__ vel, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    w[i] += vel[i];
}

}  // namespace

void bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float lr, float momentum,
                 float sparsity_target, float sparsity_cost, float* vel, float* bias, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && pos && neg && vel && bias && (sparsity_cost <= 0.0f || act != nullptr));
  const int block = 128;
  bias_update_kernel<<<(cols + block - 1) / block, block, 0, s.get()>>>(
      pos, neg, sparsity_cost > 0.0f ? act : nullptr, rows, cols, lr, momentum, sparsity_target, sparsity_cost, vel, bias);
  RBM_CHECK_LAUNCH(bias_update_kernel);
}

void decay_velocity(float* vel, const float* w, std::size_t n, float momentum, float decay, stream_view s) {
  RBM_EXPECTS(n > 0 && vel && w);
  decay_velocity_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(vel, w, n, momentum, decay);
  RBM_CHECK_LAUNCH(decay_velocity_kernel);
}

void add_inplace(float* w, const float* vel, std::size_t n, stream_view s) {
  RBM_EXPECTS(n > 0 && w && vel);
  add_inplace_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(w, vel, n);
  RBM_CHECK_LAUNCH(add_inplace_kernel);
}

}  // namespace rbm
