// Parameter updates: the fused bias step (column reduction + momentum + sparsity) and the one
// element-wise pass after the weight-gradient GEMMs.
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

__global__ void apply_weight_step_kernel(float* __restrict__ w, float* __restrict__ vel, std::size_t n, float decay) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float v = vel[i] - decay * w[i];
    vel[i] = v;
    w[i] += v;
  }
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

void apply_weight_step(float* w, float* vel, std::size_t n, float decay, stream_view s) {
  RBM_EXPECTS(n > 0 && w && vel);
  apply_weight_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(w, vel, n, decay);
  RBM_CHECK_LAUNCH(apply_weight_step_kernel);
}

}  // namespace rbm
