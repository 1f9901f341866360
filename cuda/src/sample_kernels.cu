// Fused bias + sigmoid + Bernoulli sampling (and the continuous hidden kinds' means and draws), and
// uint8 -> float conversion (plain and gathered).
#include "rbm/detail/launch.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

// The element-wise kernels that need an element's row or column index it with `Index`: 32 bits
// whenever the array allows (a 64-bit i % cols costs several times the 32-bit one), 64 beyond.
constexpr std::size_t narrow_limit = std::size_t(1) << 31;  // i + grid stride stays below 2^32

template <class Index>
__global__ void sigmoid_sample_kernel(const float* pre, const float* __restrict__ bias, const float* __restrict__ u,
                                      float* prob, float* state, Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const float p = sigmoid(pre[i] + bias[i % cols]);
    prob[i] = p;
    if (state != nullptr) state[i] = bernoulli(p, u[i]);
  }
}

// The continuous hidden kinds (Gaussian, ReLU): mean and draw in double, rounded once to float.
template <class Index>
__global__ void hidden_kind_kernel(unit_kind kind, const float* pre, const float* __restrict__ bias,
                                   const float* __restrict__ u, float* prob, float* state, Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const double a = double(pre[i]) + bias[i % cols];
    prob[i] = float(hidden_mean(kind, a));
    if (state != nullptr) state[i] = float(hidden_sample(kind, a, u[i]));
  }
}

// A site's q inputs a_k = x_k + vb_k (double) become float(softmax(a)_k), then the one-hot draw from
// those float means: softmax_units::mean and ::sample without per-thread arrays (the same expressions
// recomputed pass by pass).
__global__ void categorical_sample_kernel(float* __restrict__ x, const float* __restrict__ vb,
                                          const float* __restrict__ u, std::size_t groups, int sites, int q) {
  for (std::size_t g = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; g < groups;
       g += std::size_t(gridDim.x) * blockDim.x) {
    float* site = x + g * q;
    const float* b = vb + (g % sites) * q;
    double top = double(site[0]) + b[0];
    for (int k = 1; k < q; ++k) {
      const double a = double(site[k]) + b[k];
      top = a > top ? a : top;
    }
    double sum = 0;
    for (int k = 0; k < q; ++k) sum += exp(double(site[k]) + b[k] - top);
    for (int k = 0; k < q; ++k) site[k] = float(exp(double(site[k]) + b[k] - top) / sum);
    if (u == nullptr) continue;  // the means alone
    const float ug = u[g];
    int pick = q - 1;
    double c = 0;
    for (int k = 0; k < q - 1; ++k)
      if (ug < (c += double(site[k]))) {
        pick = k;
        break;
      }
    for (int k = 0; k < q; ++k) site[k] = k == pick ? 1.0f : 0.0f;
  }
}

__global__ void bytes_to_unit_kernel(const std::uint8_t* __restrict__ in, float* __restrict__ out, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = static_cast<float>(in[i]) * (1.0f / 255.0f);
}

template <class Index>
__global__ void gather_to_unit_kernel(const std::uint8_t* __restrict__ data, const int* __restrict__ idx,
                                      float* __restrict__ out, Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index r = i / cols, c = i % cols;
    out[i] = static_cast<float>(data[std::size_t(idx[r]) * cols + c]) * (1.0f / 255.0f);
  }
}

template <class Index>
__global__ void gather_rows_kernel(const float* __restrict__ data, const int* __restrict__ idx, float* __restrict__ out,
                                   Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index r = i / cols, c = i % cols;
    out[i] = data[std::size_t(idx[r]) * cols + c];
  }
}

// Gaussian visible units (rbm::gaussian_units), the CPU's cpu::gaussian_visible_rows.
template <class Index>
__global__ void gaussian_visible_kernel(float* x, const float* __restrict__ vb, const float* __restrict__ sigma,
                                        const float* __restrict__ normals, Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index c = i % cols;
    const float m = gaussian_units::mean(vb[c], sigma[c], x[i]);
    x[i] = normals != nullptr ? gaussian_units::sample(m, sigma[c], normals[i]) : m;
  }
}

template <class Index>
__global__ void scale_by_sigma_kernel(const float* __restrict__ v, const float* __restrict__ sigma, float* __restrict__ out,
                                      Index n, Index cols) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x)
    out[i] = gaussian_units::scaled(v[i], sigma[i % cols]);
}

}  // namespace

void gaussian_visible(float* x, const float* vb, const float* sigma, const float* normals, int rows, int cols,
                      stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && x && vb && sigma);
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    gaussian_visible_kernel<unsigned><<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(
        x, vb, sigma, normals, unsigned(n), unsigned(cols));
  else
    gaussian_visible_kernel<std::size_t>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(x, vb, sigma, normals, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(gaussian_visible_kernel);
}

void gather_rows(const float* data, const int* idx, int rows, int cols, float* out, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && data && idx && out);
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    gather_rows_kernel<unsigned>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(data, idx, out, unsigned(n), unsigned(cols));
  else
    gather_rows_kernel<std::size_t>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(data, idx, out, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(gather_rows_kernel);
}

void scale_by_sigma(const float* v, const float* sigma, int rows, int cols, float* out, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && v && sigma && out);
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    scale_by_sigma_kernel<unsigned>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(v, sigma, out, unsigned(n), unsigned(cols));
  else
    scale_by_sigma_kernel<std::size_t>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(v, sigma, out, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(scale_by_sigma_kernel);
}

void sigmoid_sample(const float* pre, const float* bias, const float* u, float* prob, float* state, int rows, int cols,
                    stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && pre && bias && prob && (state == nullptr || u != nullptr));
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    sigmoid_sample_kernel<unsigned><<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(
        pre, bias, u, prob, state, unsigned(n), unsigned(cols));
  else
    sigmoid_sample_kernel<std::size_t>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(pre, bias, u, prob, state, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(sigmoid_sample_kernel);
}

void hidden_sample(unit_kind hidden, const float* pre, const float* bias, const float* u, float* prob, float* state,
                   int rows, int cols, stream_view s) {
  if (hidden == unit_kind::bernoulli) return sigmoid_sample(pre, bias, u, prob, state, rows, cols, s);
  RBM_EXPECTS(rows > 0 && cols > 0 && pre && bias && prob && (state == nullptr || u != nullptr));
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    hidden_kind_kernel<unsigned><<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(
        hidden, pre, bias, u, prob, state, unsigned(n), unsigned(cols));
  else
    hidden_kind_kernel<std::size_t><<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(
        hidden, pre, bias, u, prob, state, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(hidden_kind_kernel);
}

void categorical_sample(float* x, const float* vb, const float* u, int rows, int sites, int q, stream_view s) {
  RBM_EXPECTS(x && vb && rows > 0 && sites > 0 && q >= 2);
  const std::size_t groups = std::size_t(rows) * sites;
  categorical_sample_kernel<<<detail::grid_for(groups), detail::block_size, 0, s.get()>>>(x, vb, u, groups, sites, q);
  RBM_CHECK_LAUNCH(categorical_sample_kernel);
}

void bytes_to_unit(const std::uint8_t* in, float* out, std::size_t n, stream_view s) {
  if (n == 0) return;
  RBM_EXPECTS(in && out);
  bytes_to_unit_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(in, out, n);
  RBM_CHECK_LAUNCH(bytes_to_unit_kernel);
}

void gather_to_unit(const std::uint8_t* data, const int* idx, int rows, int cols, float* out, stream_view s) {
  RBM_EXPECTS(rows > 0 && cols > 0 && data && idx && out);
  const std::size_t n = std::size_t(rows) * cols;
  if (n < narrow_limit)
    gather_to_unit_kernel<unsigned>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(data, idx, out, unsigned(n), unsigned(cols));
  else
    gather_to_unit_kernel<std::size_t>
        <<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(data, idx, out, n, std::size_t(cols));
  RBM_CHECK_LAUNCH(gather_to_unit_kernel);
}

}  // namespace rbm
