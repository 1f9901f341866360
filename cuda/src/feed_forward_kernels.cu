// Backpropagation's element-wise passes (rbm/feed_forward.hpp): a hidden mean's slope, a linear head's
// residuals, the descent step. Each product and sum is rounded on its own (no FMA), as the CPU's
// fine-tuning (host/src/fine_tune_cpu.cpp) rounds them.
#include <cub/block/block_reduce.cuh>

#include "rbm/detail/launch.hpp"
#include "rbm/error.hpp"
#include "rbm/kernels.hpp"

namespace rbm {
namespace {

__global__ void mean_slope_kernel(unit_kind kind, float* __restrict__ d, const float* __restrict__ a,
                                  const float* __restrict__ pre, const float* __restrict__ bias, std::size_t n,
                                  int cols) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    if (kind == unit_kind::bernoulli) {
      d[i] = __fmul_rn(d[i], __fmul_rn(a[i], __fsub_rn(1.0f, a[i])));
    } else {
      const float z = float(double(pre[i]) + bias[i % cols]);  // the CPU keeps the total input in float
      d[i] = __fmul_rn(d[i], float(hidden_variance(kind, z)));
    }
  }
}

constexpr int residual_block = 256;

__global__ void linear_residuals_kernel(float* __restrict__ e, const float* __restrict__ b,
                                        const float* __restrict__ t, std::size_t n, int cols, double* loss) {
  using block_reduce = cub::BlockReduce<double, residual_block>;
  __shared__ typename block_reduce::TempStorage tmp;
  double local = 0;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float r = __fadd_rn(e[i], __fsub_rn(b[i % cols], t[i]));
    e[i] = r;
    local += 0.5 * double(r) * r;
  }
  const double total = block_reduce(tmp).Sum(local);
  if (threadIdx.x == 0) atomicAdd(loss, total);
}

__global__ void add_bias_rows_kernel(float* __restrict__ out, const float* __restrict__ b, std::size_t n, int cols) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = __fadd_rn(out[i], b[i % cols]);
}

__global__ void descent_step_kernel(optimizer method, float* __restrict__ param, const float* __restrict__ grad,
                                    float* __restrict__ vel, float* __restrict__ sq, std::size_t n, float scale,
                                    float decay, float lr, float momentum, float adam_rate) {
  const adam_rule adam{adam_rate};
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float g = __fadd_rn(__fmul_rn(grad[i], scale), __fmul_rn(decay, param[i]));
    if (method == optimizer::sgd) {
      const float v = __fsub_rn(__fmul_rn(momentum, vel[i]), __fmul_rn(lr, g));
      vel[i] = v;
      param[i] = __fadd_rn(param[i], v);
    } else {
      param[i] = __fsub_rn(param[i], adam.step(g, vel[i], sq[i]));
    }
  }
}

}  // namespace

void mean_slope(unit_kind hidden, float* d, const float* a, const float* pre, const float* bias, int rows, int cols,
                stream_view s) {
  RBM_EXPECTS(d && rows > 0 && cols > 0 && (hidden == unit_kind::bernoulli ? a != nullptr : pre && bias));
  const std::size_t n = std::size_t(rows) * cols;
  mean_slope_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(hidden, d, a, pre, bias, n, cols);
  RBM_CHECK_LAUNCH(mean_slope_kernel);
}

void linear_residuals(float* e, const float* b, const float* t, int rows, int cols, double* loss, stream_view s) {
  RBM_EXPECTS(e && b && t && loss && rows > 0 && cols > 0);
  const std::size_t n = std::size_t(rows) * cols;
  linear_residuals_kernel<<<std::min(detail::grid_for(n, residual_block), 1024u), residual_block, 0, s.get()>>>(
      e, b, t, n, cols, loss);
  RBM_CHECK_LAUNCH(linear_residuals_kernel);
}

void add_bias_rows(float* out, const float* b, int rows, int cols, stream_view s) {
  RBM_EXPECTS(out && b && rows > 0 && cols > 0);
  const std::size_t n = std::size_t(rows) * cols;
  add_bias_rows_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(out, b, n, cols);
  RBM_CHECK_LAUNCH(add_bias_rows_kernel);
}

void descent_step(optimizer method, float* param, const float* grad, float* vel, float* sq, std::size_t n, float scale,
                  float decay, float lr, float momentum, float adam_rate, stream_view s) {
  RBM_EXPECTS(param && grad && vel && n > 0 && (method == optimizer::sgd || sq != nullptr));
  descent_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(method, param, grad, vel, sq, n, scale,
                                                                              decay, lr, momentum, adam_rate);
  RBM_CHECK_LAUNCH(descent_step_kernel);
}

}  // namespace rbm
