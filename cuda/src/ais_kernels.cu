// Annealed importance sampling on the device: the tempered transitions and the log-weight increments,
// written as the CPU's expressions (host/src/evaluation.cpp) so both draw and weigh alike.
#include <cub/block/block_reduce.cuh>

#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

constexpr int ais_block = 256;

__global__ void ais_sample_hidden_kernel(const float* __restrict__ pre, const float* __restrict__ hb, double beta,
                                         const float* __restrict__ u, float* __restrict__ h, std::size_t n, int nh,
                                         unit_kind hidden) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    h[i] = hidden == unit_kind::bernoulli ? bernoulli(sigmoid(float(beta * (double(pre[i]) + hb[i % nh]))), u[i])
                                          : float(hidden_sample(hidden, beta * (double(pre[i]) + hb[i % nh]), u[i]));
}

__global__ void ais_sample_visible_kernel(const float* __restrict__ vpre, const float* __restrict__ vb,
                                          const float* __restrict__ base_vb, double beta, const float* __restrict__ u,
                                          float* __restrict__ v, std::size_t n, int nv) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const int c = int(i % nv);
    const double a = beta == 0.0 ? double(base_vb[c]) : ais_visible_input(beta, base_vb[c], vpre[i], vb[c]);
    v[i] = bernoulli(sigmoid(float(a)), u[i]);
  }
}

__global__ void ais_log_weight_kernel(const float* __restrict__ v, const float* __restrict__ dvb,
                                      const float* __restrict__ pre, const float* __restrict__ hb, double beta,
                                      double beta_prev, int nv, int nh, unit_kind hidden,
                                      double* __restrict__ logw) {
  using block_reduce = cub::BlockReduce<double, ais_block>;
  __shared__ typename block_reduce::TempStorage tmp;
  const std::size_t r = blockIdx.x;
  double lin = 0.0, hid = 0.0;
  for (int i = threadIdx.x; i < nv; i += blockDim.x) lin += double(v[r * nv + i] * dvb[i]);
  for (int j = threadIdx.x; j < nh; j += blockDim.x) {
    const double x = double(pre[r * nh + j]) + hb[j];
    hid += hidden == unit_kind::bernoulli
               ? double(softplus(float(beta * x))) - double(softplus(float(beta_prev * x)))
               : hidden_log_integral(hidden, beta * x) - hidden_log_integral(hidden, beta_prev * x);
  }
  const double total = block_reduce(tmp).Sum((beta - beta_prev) * lin + hid);
  if (threadIdx.x == 0) logw[r] += total;
}

}  // namespace

void ais_sample_hidden(const float* pre, const float* hb, double beta, const float* u, float* h, int rows, int nh,
                       stream_view s, unit_kind hidden) {
  RBM_EXPECTS(rows > 0 && nh > 0 && pre && hb && u && h);
  const std::size_t n = std::size_t(rows) * nh;
  ais_sample_hidden_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(pre, hb, beta, u, h, n, nh, hidden);
  RBM_CHECK_LAUNCH(ais_sample_hidden_kernel);
}

void ais_sample_visible(const float* vpre, const float* vb, const float* base_vb, double beta, const float* u,
                        float* v, int rows, int nv, stream_view s) {
  RBM_EXPECTS(rows > 0 && nv > 0 && base_vb && u && v && (beta == 0.0 || (vpre && vb)));
  const std::size_t n = std::size_t(rows) * nv;
  ais_sample_visible_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(vpre, vb, base_vb, beta, u, v, n, nv);
  RBM_CHECK_LAUNCH(ais_sample_visible_kernel);
}

void ais_accumulate_log_weights(const float* v, const float* dvb, const float* pre, const float* hb, double beta,
                                double beta_prev, int rows, int nv, int nh, double* logw, stream_view s,
                                unit_kind hidden) {
  RBM_EXPECTS(rows > 0 && nv > 0 && nh > 0 && v && dvb && pre && hb && logw);
  ais_log_weight_kernel<<<rows, ais_block, 0, s.get()>>>(v, dvb, pre, hb, beta, beta_prev, nv, nh, hidden, logw);
  RBM_CHECK_LAUNCH(ais_log_weight_kernel);
}

}  // namespace rbm
