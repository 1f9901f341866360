// Parallel tempering's passes (kernels.hpp; the CPU's tempered_sweep and tempered_swaps in
// host/src/cpu_backend.cpp): the replicas' inverse temperatures applied, new chains seeded, and the
// Metropolis swaps of neighbouring temperatures, each expression as the CPU's.
#include "rbm/cd_config.hpp"
#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"

namespace rbm {
namespace {

__global__ void tempered_scale_kernel(float* __restrict__ x, std::size_t n, int cols, int replicas) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(x[i], tempering_beta(int((i / cols) % replicas), replicas));
}

__global__ void tempered_hidden_input_kernel(float* __restrict__ a, const float* __restrict__ hb, float* __restrict__ x,
                                             std::size_t n, int cols, int replicas) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float ai = __fadd_rn(a[i], hb[i % cols]);
    a[i] = ai;
    x[i] = __fmul_rn(tempering_beta(int((i / cols) % replicas), replicas), ai);
  }
}

__global__ void seed_replicas_kernel(const float* __restrict__ v0, const float* __restrict__ h0, int first, int chains,
                                     int replicas, int nv, int nh, float* __restrict__ tv, float* __restrict__ th) {
  const int width = nv + nh;
  const std::size_t n = std::size_t(chains - first) * replicas * width;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const int e = int(i % width);
    const std::size_t q = std::size_t(first) * replicas + i / width;  // the replica row
    const std::size_t r = q / replicas;                               // its chain
    if (e < nv)
      tv[q * nv + e] = v0[r * nv + e];
    else
      th[q * nh + (e - nv)] = h0[r * nh + (e - nv)];
  }
}

__global__ void replica_energy_kernel(const float* __restrict__ a, const float* __restrict__ h, int rows, int nh,
                                      double* __restrict__ g) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= rows) return;
  double sum = 0;  // in order, as the CPU's
  for (int j = 0; j < nh; ++j) sum += double(a[std::size_t(q) * nh + j]) * h[std::size_t(q) * nh + j];
  g[q] = sum;
}

__device__ void swap_rows(float* x, std::size_t lo, std::size_t hi, int cols) {
  for (int c = 0; c < cols; ++c) {
    const float t = x[lo * cols + c];
    x[lo * cols + c] = x[hi * cols + c];
    x[hi * cols + c] = t;
  }
}

__global__ void tempered_swaps_kernel(float* __restrict__ tv, float* __restrict__ th, double* __restrict__ g,
                                      const float* __restrict__ u, int chains, int replicas, int nv, int nh) {
  const int chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  const std::size_t base = std::size_t(chain) * replicas;
  for (int t = 0; t + 1 < replicas; ++t) {
    const double d = double(tempering_beta(t + 1, replicas) - tempering_beta(t, replicas)) * (g[base + t] - g[base + t + 1]);
    if (!(double(u[std::size_t(chain) * (replicas - 1) + t]) < exp(d < 0.0 ? d : 0.0))) continue;
    swap_rows(tv, base + t, base + t + 1, nv);
    swap_rows(th, base + t, base + t + 1, nh);
    const double x = g[base + t];
    g[base + t] = g[base + t + 1];
    g[base + t + 1] = x;
  }
}

}  // namespace

void tempered_scale(float* x, int rows, int cols, int replicas, stream_view s) {
  RBM_EXPECTS(x && rows > 0 && cols > 0 && replicas > 1);
  const std::size_t n = std::size_t(rows) * cols;
  tempered_scale_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(x, n, cols, replicas);
  RBM_CHECK_LAUNCH(tempered_scale_kernel);
}

void tempered_hidden_input(float* a, const float* hb, float* x, int rows, int cols, int replicas, stream_view s) {
  RBM_EXPECTS(a && hb && x && rows > 0 && cols > 0 && replicas > 1);
  const std::size_t n = std::size_t(rows) * cols;
  tempered_hidden_input_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(a, hb, x, n, cols, replicas);
  RBM_CHECK_LAUNCH(tempered_hidden_input_kernel);
}

void seed_replicas(const float* v0, const float* h0, int first, int chains, int replicas, int nv, int nh, float* tv,
                   float* th, stream_view s) {
  RBM_EXPECTS(v0 && h0 && tv && th && first >= 0 && replicas > 1 && nv > 0 && nh > 0);
  if (chains <= first) return;
  const std::size_t n = std::size_t(chains - first) * replicas * (nv + nh);
  seed_replicas_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(v0, h0, first, chains, replicas, nv, nh,
                                                                               tv, th);
  RBM_CHECK_LAUNCH(seed_replicas_kernel);
}

void tempered_swaps(const float* a, float* tv, float* th, double* g, const float* u, int chains, int replicas, int nv,
                    int nh, stream_view s) {
  RBM_EXPECTS(a && tv && th && g && u && chains > 0 && replicas > 1 && nv > 0 && nh > 0);
  constexpr int threads = 128;
  const int rows = chains * replicas;
  replica_energy_kernel<<<(rows + threads - 1) / threads, threads, 0, s.get()>>>(a, th, rows, nh, g);
  RBM_CHECK_LAUNCH(replica_energy_kernel);
  tempered_swaps_kernel<<<(chains + threads - 1) / threads, threads, 0, s.get()>>>(tv, th, g, u, chains, replicas, nv,
                                                                                   nh);
  RBM_CHECK_LAUNCH(tempered_swaps_kernel);
}

}  // namespace rbm
