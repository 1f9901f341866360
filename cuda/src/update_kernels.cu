// Parameter updates: the fused bias step (column reduction + momentum or Adam + sparsity), learned
// sigma's gradient and step, the one element-wise pass after the weight-gradient GEMMs, and Adam's.
#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/optimizer.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

// A block per 32 columns, its 32 warps each summing every 32nd row of them: a warp reads 32
// consecutive columns of a row (coalesced), and even a layer of 50 units keeps 64 warps busy instead
// of a serial loop over the whole batch. The 32 partial sums of a column then meet in shared memory.
constexpr int bias_tile = 32;   // columns per block, one per lane
constexpr int bias_lanes = 32;  // row stripes per block, one per warp
constexpr int bias_threads = bias_tile * bias_lanes;

// Adam's moments where `adam_rate` is given (vel the first, sq the second; `lr` then weights the
// gradient), else SGD with momentum; with `grad_out`, the gradient written there and nothing moved.
__global__ void __launch_bounds__(bias_threads)
    bias_update_kernel(const float* __restrict__ pos, const float* __restrict__ neg, const float* __restrict__ act,
                       int rows, int cols, float lr, float momentum, float target, float cost,
                       const float* __restrict__ sigma, const float* __restrict__ adam_rate, float* __restrict__ vel,
                       float* __restrict__ sq, float* __restrict__ bias, float* __restrict__ grad_out = nullptr) {
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
  if (grad_out != nullptr) {
    grad_out[c] = g;
    return;
  }
  if (adam_rate != nullptr) {
    bias[c] += adam_rule{*adam_rate}.step(lr * g, vel[c], sq[c]);
    return;
  }
  const float v = momentum * vel[c] + lr * g;
  vel[c] = v;
  bias[c] += v;
}

// Learned sigma: the column sums of sign * log_sigma_gradient(v, vb, sigma, x) over the rows, added to
// (or, the first phase, written into) g; the same tiling as the bias step.
__global__ void __launch_bounds__(bias_threads)
    sigma_gradient_kernel(const float* __restrict__ v, const float* __restrict__ x, const float* __restrict__ vb,
                          const float* __restrict__ sigma, int rows, int cols, float sign, bool accumulate,
                          float* __restrict__ g) {
  __shared__ float gs[bias_lanes][bias_tile];
  const int tx = threadIdx.x, y = threadIdx.y, c = blockIdx.x * bias_tile + tx;
  float sum = 0.0f;
  if (c < cols) {
    const float b = vb[c], sd = sigma[c];
    for (int r = y; r < rows; r += bias_lanes) {
      const std::size_t i = std::size_t(r) * cols + c;
      sum += gaussian_units::log_sigma_gradient(v[i], b, sd, x[i]);
    }
  }
  gs[y][tx] = sum;
  __syncthreads();
  if (y != 0 || c >= cols) return;
  for (int k = 1; k < bias_lanes; ++k) sum += gs[k][tx];
  g[c] = (accumulate ? g[c] : 0.0f) + sign * sum;
}

__global__ void log_sigma_step_kernel(const float* __restrict__ g, int cols, float inv_rows, float lr, float momentum,
                                      float floor, float* __restrict__ vel, float* __restrict__ sigma) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float v = momentum * vel[c] + lr * (g[c] * inv_rows);
  vel[c] = v;
  sigma[c] = gaussian_units::variance_step(sigma[c], v, floor);
}

__global__ void adam_log_sigma_step_kernel(const float* __restrict__ g, int cols, float inv_rows,
                                           const float* __restrict__ rate, float floor, float* __restrict__ m,
                                           float* __restrict__ sq, float* __restrict__ sigma) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float z = adam_rule{*rate}.step(g[c] * inv_rows, m[c], sq[c]);
  sigma[c] = gaussian_units::log_sigma_step(sigma[c], z, floor);
}

__global__ void adam_advance_kernel(double lr, std::uint64_t* t, float* rate) {
  *t += 1;
  *rate = adam_rule::at(lr, *t).rate;
}

__global__ void adam_weight_step_kernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
                                        float* __restrict__ sq, std::size_t n, float scale,
                                        const float* __restrict__ rate, float decay) {
  const adam_rule adam{*rate};
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    w[i] += adam.step(scale * g[i], m[i], sq[i]) - decay * w[i];
}

__global__ void scale_values_kernel(float* __restrict__ x, std::size_t n, float factor) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(x[i], factor);
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
      nullptr, vel, nullptr, bias);
  RBM_CHECK_LAUNCH(bias_update_kernel);
}

void scale_values(float* x, std::size_t n, float factor, stream_view s) {
  if (n == 0) return;
  RBM_EXPECTS(x != nullptr);
  scale_values_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(x, n, factor);
  RBM_CHECK_LAUNCH(scale_values_kernel);
}

void bias_gradient(const float* pos, const float* neg, const float* act, int rows, int cols, float sparsity_target,
                   float sparsity_cost, const float* sigma, float* g, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && pos && neg && g && (sparsity_cost <= 0.0f || act != nullptr));
  const dim3 block(bias_tile, bias_lanes);
  bias_update_kernel<<<(cols + bias_tile - 1) / bias_tile, block, 0, s.get()>>>(
      pos, neg, sparsity_cost > 0.0f ? act : nullptr, rows, cols, 1.0f, 0.0f, sparsity_target, sparsity_cost, sigma,
      nullptr, nullptr, nullptr, nullptr, g);
  RBM_CHECK_LAUNCH(bias_update_kernel);
}

void adam_bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float sparsity_target,
                      float sparsity_cost, const float* sigma, float weight, const float* rate, float* m, float* sq,
                      float* bias, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && pos && neg && rate && m && sq && bias && (sparsity_cost <= 0.0f || act != nullptr));
  const dim3 block(bias_tile, bias_lanes);
  bias_update_kernel<<<(cols + bias_tile - 1) / bias_tile, block, 0, s.get()>>>(
      pos, neg, sparsity_cost > 0.0f ? act : nullptr, rows, cols, weight, 0.0f, sparsity_target, sparsity_cost, sigma,
      rate, m, sq, bias);
  RBM_CHECK_LAUNCH(bias_update_kernel);
}

void adam_advance(double lr, std::uint64_t* t, float* rate, stream_view s) {
  RBM_EXPECTS(lr > 0 && t && rate);
  adam_advance_kernel<<<1, 1, 0, s.get()>>>(lr, t, rate);
  RBM_CHECK_LAUNCH(adam_advance_kernel);
}

void adam_weight_step(float* w, const float* g, float* m, float* sq, std::size_t n, float scale, const float* rate,
                      float decay, stream_view s) {
  RBM_EXPECTS(n > 0 && w && g && m && sq && rate);
  adam_weight_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(w, g, m, sq, n, scale, rate, decay);
  RBM_CHECK_LAUNCH(adam_weight_step_kernel);
}

void adam_log_sigma_step(const float* g, int cols, int rows, const float* rate, float floor, float* m, float* sq,
                         float* sigma, stream_view s) {
  RBM_EXPECTS(cols > 0 && rows > 0 && g && rate && m && sq && sigma && floor > 0);
  adam_log_sigma_step_kernel<<<(cols + detail::block_size - 1) / detail::block_size, detail::block_size, 0, s.get()>>>(
      g, cols, 1.0f / rows, rate, floor, m, sq, sigma);
  RBM_CHECK_LAUNCH(adam_log_sigma_step_kernel);
}

void sigma_gradient(const float* v, const float* x, const float* vb, const float* sigma, int rows, int cols, float sign,
                    bool accumulate, float* g, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && v && x && vb && sigma && g);
  const dim3 block(bias_tile, bias_lanes);
  sigma_gradient_kernel<<<(cols + bias_tile - 1) / bias_tile, block, 0, s.get()>>>(v, x, vb, sigma, rows, cols, sign,
                                                                                  accumulate, g);
  RBM_CHECK_LAUNCH(sigma_gradient_kernel);
}

void log_sigma_step(const float* g, int cols, int rows, float lr, float momentum, float floor, float* vel, float* sigma,
                    stream_view s) {
  RBM_EXPECTS(cols > 0 && rows > 0 && g && vel && sigma && floor > 0);
  log_sigma_step_kernel<<<(cols + detail::block_size - 1) / detail::block_size, detail::block_size, 0, s.get()>>>(
      g, cols, 1.0f / rows, lr, momentum, floor, vel, sigma);
  RBM_CHECK_LAUNCH(log_sigma_step_kernel);
}

void apply_weight_step(float* w, float* vel, std::size_t n, float decay, stream_view s) {
  RBM_EXPECTS(n > 0 && w && vel);
  apply_weight_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(w, vel, n, decay);
  RBM_CHECK_LAUNCH(apply_weight_step_kernel);
}

}  // namespace rbm
