// Parameter updates: the fused bias step (column reduction + momentum + sparsity) and the one
// element-wise pass after the weight-gradient GEMMs.
#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"

namespace rbm {
namespace {

// A block per 32 columns, its 32 warps each summing every 32nd row of them: a warp reads 32
// consecutive columns of a row (coalesced), and even a layer of 50 units keeps 64 warps busy instead
// of a serial loop over the whole batch. The 32 partial sums of a column then meet in shared memory.
constexpr int bias_tile = 32;   // columns per block, one per lane
constexpr int bias_lanes = 32;  // row stripes per block, one per warp
constexpr int bias_threads = bias_tile * bias_lanes;

__global__ void __launch_bounds__(bias_threads)
    bias_update_kernel(const float* __restrict__ pos, const float* __restrict__ neg, const float* __restrict__ act,
                       int rows, int cols, float lr, float momentum, float target, float cost,
                       const float* __restrict__ sigma, float* __restrict__ vel, float* __restrict__ bias) {
  __shared__ float gs[bias_lanes][bias_tile], qs[bias_lanes][bias_tile];
  const int x = threadIdx.x, y = threadIdx.y, c = blockIdx.x * bias_tile + x;
  float g = 0.0f, q = 0.0f;
  if (c < cols) {
    for (int r = y; r < rows; r += bias_lanes) {
      const std::size_t i = std::size_t(r) * cols + c;
      g += pos[i] - neg[i];
      if (act != nullptr) q += act[i];
    }
  }
  gs[y][x] = g;
  qs[y][x] = q;
  __syncthreads();
  if (y != 0 || c >= cols) return;
  for (int k = 1; k < bias_lanes; ++k) {
    g += gs[k][x];
    q += qs[k][x];
  }
  const float inv = 1.0f / rows;
  g = sigma != nullptr ? g * inv / (sigma[c] * sigma[c]) : g * inv;  // Gaussian units: over sigma^2, as the CPU
  if (cost > 0.0f) g += cost * (target - q * inv);
  const float v = momentum * vel[c] + lr * g;
  vel[c] = v;
  bias[c] += v;
}

__global__ void apply_weight_step_kernel(float* __restrict__ w, float* __restrict__ vel, std::size_t n, float decay) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float v = decayed_velocity(vel[i], w[i], decay);
    vel[i] = v;
    w[i] += v;
  }
}

}  // namespace

void bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float lr, float momentum,
                 float sparsity_target, float sparsity_cost, float* vel, float* bias, stream_view s) {
  bias_update(pos, neg, act, rows, cols, lr, momentum, sparsity_target, sparsity_cost, nullptr, vel, bias, s);
}

void bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float lr, float momentum,
                 float sparsity_target, float sparsity_cost, const float* sigma, float* vel, float* bias, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && pos && neg && vel && bias && (sparsity_cost <= 0.0f || act != nullptr));
  const dim3 block(bias_tile, bias_lanes);
  bias_update_kernel<<<(cols + bias_tile - 1) / bias_tile, block, 0, s.get()>>>(
      pos, neg, sparsity_cost > 0.0f ? act : nullptr, rows, cols, lr, momentum, sparsity_target, sparsity_cost, sigma,
      vel, bias);
  RBM_CHECK_LAUNCH(bias_update_kernel);
}

void apply_weight_step(float* w, float* vel, std::size_t n, float decay, stream_view s) {
  RBM_EXPECTS(n > 0 && w && vel);
  apply_weight_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(w, vel, n, decay);
  RBM_CHECK_LAUNCH(apply_weight_step_kernel);
}

}  // namespace rbm
