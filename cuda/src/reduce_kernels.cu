// Reductions for monitoring: squared reconstruction error and per-row free energy. The difference and
// square (and the softplus) are fused into the reduction, which is why these are not CUB calls.
#include <cub/block/block_reduce.cuh>

#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

constexpr int reduce_block = 256;

__global__ void squared_error_kernel(const float* __restrict__ a, const float* __restrict__ b, std::size_t n,
                                     double* acc) {
  using block_reduce = cub::BlockReduce<double, reduce_block>;
  __shared__ typename block_reduce::TempStorage tmp;
  double local = 0.0;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const double d = double(a[i]) - double(b[i]);
    local += d * d;
  }
  const double total = block_reduce(tmp).Sum(local);
  if (threadIdx.x == 0) atomicAdd(acc, total);
}

// One block per row.
__global__ void free_energy_kernel(const float* __restrict__ v, const float* __restrict__ vb,
                                   const float* __restrict__ pre, const float* __restrict__ hb,
                                   const float* __restrict__ sigma, int nv, int nh, unit_kind hidden, float* out,
                                   double* acc) {
  using block_reduce = cub::BlockReduce<double, reduce_block>;
  __shared__ typename block_reduce::TempStorage tmp;
  const std::size_t r = blockIdx.x;
  double local = 0.0;
  for (int i = threadIdx.x; i < nv; i += blockDim.x)
    local += sigma != nullptr ? gaussian_units::free_energy_term(v[r * nv + i], vb[i], sigma[i])
                              : bernoulli_units::free_energy_term(v[r * nv + i], vb[i]);
  if (hidden == unit_kind::bernoulli)
    for (int j = threadIdx.x; j < nh; j += blockDim.x) local -= softplus(pre[r * nh + j] + hb[j]);
  else
    for (int j = threadIdx.x; j < nh; j += blockDim.x) local -= hidden_log_integral(hidden, double(pre[r * nh + j]) + hb[j]);
  const double f = block_reduce(tmp).Sum(local);
  if (threadIdx.x == 0) {
    if (out != nullptr) out[r] = static_cast<float>(f);
    if (acc != nullptr) atomicAdd(acc, f);
  }
}

}  // namespace

void accumulate_squared_error(const float* a, const float* b, std::size_t n, double* acc, stream_view s) {
  if (n == 0) return;
  RBM_EXPECTS(a && b && acc);
  squared_error_kernel<<<std::min(detail::grid_for(n, reduce_block), 1024u), reduce_block, 0, s.get()>>>(a, b, n, acc);
  RBM_CHECK_LAUNCH(squared_error_kernel);
}

void free_energy(const float* v, const float* vb, const float* pre, const float* hb, int rows, int nv, int nh,
                 float* out, double* acc, stream_view s) {
  free_energy(v, vb, pre, hb, nullptr, rows, nv, nh, out, acc, s);
}

void free_energy(const float* v, const float* vb, const float* pre, const float* hb, const float* sigma, int rows,
                 int nv, int nh, float* out, double* acc, stream_view s, unit_kind hidden) {
  RBM_EXPECTS(rows > 0 && nv > 0 && nh > 0 && v && vb && pre && hb && (out || acc));
  free_energy_kernel<<<rows, reduce_block, 0, s.get()>>>(v, vb, pre, hb, sigma, nv, nh, hidden, out, acc);
  RBM_CHECK_LAUNCH(free_energy_kernel);
}

}  // namespace rbm
