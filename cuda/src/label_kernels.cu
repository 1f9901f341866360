// Label groups: the hidden layer given a class, the exact class probabilities and the discriminative
// gradient's per-row terms, label sampling, the label group's gradient sums and its momentum step.
// Every sum runs over the rows in the CPU's order and every product and sum is rounded on its own
// (no FMA), so the kernels follow cpu_label_step (host/src/classification.cpp) up to the device's
// expf and logf and the GEMMs around them.
#include <cub/block/block_reduce.cuh>

#include <string>

#include "rbm/detail/launch.hpp"
#include "rbm/error.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

constexpr int row_threads = 256;  // a block per row: the class logits' reductions over the hidden units

__device__ __forceinline__ float hidden_input(const float* pre, const float* hb, std::size_t i, int j) {
  return __fadd_rn(pre[i], hb[j]);
}

// A hidden unit of kind k at total input x: its mean (sigmoid for Bernoulli units) and its term of a
// class logit (softplus; the continuous kinds' log integral), as cpu_label_step computes them.
__device__ __forceinline__ float unit_mean(unit_kind k, float x) {
  return k == unit_kind::bernoulli ? sigmoid(x) : float(hidden_mean(k, x));
}
__device__ __forceinline__ double unit_log_integral(unit_kind k, float x) {
  return k == unit_kind::bernoulli ? double(softplus(x)) : hidden_log_integral(k, x);
}

// Row r's class logits b_k + sum_j F(pre + hb + U_kj) into logits [classes] (thread 0's; every thread
// of the block calls it and may read them after), the sums over the hidden units in double.
__device__ void row_logits(const float* __restrict__ pre, const float* __restrict__ hb,
                           const float* __restrict__ label_w, const float* __restrict__ label_b, std::size_t row,
                           int nh, int classes, unit_kind kind, double* logits) {
  using reduce = cub::BlockReduce<double, row_threads>;
  __shared__ typename reduce::TempStorage tmp;
  for (int k = 0; k < classes; ++k) {
    double part = 0;
    for (int j = threadIdx.x; j < nh; j += row_threads)
      part += unit_log_integral(kind, __fadd_rn(hidden_input(pre, hb, row + j, j), label_w[std::size_t(k) * nh + j]));
    const double total = reduce(tmp).Sum(part);
    if (threadIdx.x == 0) logits[k] = double(label_b[k]) + total;
    __syncthreads();  // tmp is reused by the next class; the logits are read after
  }
}

__global__ void __launch_bounds__(row_threads)
    label_logits_kernel(const float* __restrict__ pre, const float* __restrict__ hb,
                        const float* __restrict__ label_w, const float* __restrict__ label_b, int nh, int classes,
                        double* __restrict__ logits, unit_kind kind) {
  extern __shared__ double shared[];  // logits [classes]
  const int r = blockIdx.x;
  row_logits(pre, hb, label_w, label_b, std::size_t(r) * nh, nh, classes, kind, shared);
  for (int k = threadIdx.x; k < classes; k += row_threads) logits[std::size_t(r) * classes + k] = shared[k];
}

__global__ void label_hidden_kernel(const float* pre, const float* __restrict__ hb,
                                    const float* __restrict__ label_w, const int* __restrict__ y,
                                    const float* __restrict__ u, float* prob, float* __restrict__ state, int rows,
                                    int nh, unit_kind kind) {
  const std::size_t n = std::size_t(rows) * nh;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const int r = int(i / nh), j = int(i % nh);
    const float x = __fadd_rn(hidden_input(pre, hb, i, j), label_w[std::size_t(y[r]) * nh + j]);
    const float p = unit_mean(kind, x);
    prob[i] = p;
    if (state != nullptr)
      state[i] = kind == unit_kind::bernoulli ? bernoulli(p, u[i]) : float(hidden_sample(kind, x, u[i]));
  }
}

__global__ void __launch_bounds__(row_threads)
    label_discriminative_kernel(const float* __restrict__ pre, const float* __restrict__ hb,
                                const float* __restrict__ label_w, const float* __restrict__ label_b,
                                const int* __restrict__ y, int nh, int classes, float* __restrict__ g,
                                float* __restrict__ d, double* __restrict__ loss, unit_kind kind) {
  extern __shared__ double shared[];  // logits [classes], then p [classes]
  double* logits = shared;
  double* prob = shared + classes;
  const int r = blockIdx.x, yr = y[r];
  const std::size_t row = std::size_t(r) * nh;
  row_logits(pre, hb, label_w, label_b, row, nh, classes, kind, logits);
  if (threadIdx.x == 0) {
    const double lse = softmax_units::mean(logits, classes, prob);
    atomicAdd(loss, lse - logits[yr]);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < classes; k += row_threads)
    d[std::size_t(r) * classes + k] = __fsub_rn(k == yr ? 1.0f : 0.0f, float(prob[k]));
  for (int j = threadIdx.x; j < nh; j += row_threads) {
    const float a = hidden_input(pre, hb, row + j, j);
    float gj = unit_mean(kind, __fadd_rn(a, label_w[std::size_t(yr) * nh + j]));
    for (int k = 0; k < classes; ++k)
      gj = __fsub_rn(gj, __fmul_rn(float(prob[k]), unit_mean(kind, __fadd_rn(a, label_w[std::size_t(k) * nh + j]))));
    g[row + j] = gj;
  }
}

__global__ void sample_labels_kernel(const float* __restrict__ ly, const float* __restrict__ label_b,
                                     const float* __restrict__ u, int classes, int* __restrict__ y) {
  extern __shared__ double shared[];  // logits [classes], then p [classes]
  const int r = blockIdx.x;
  for (int k = threadIdx.x; k < classes; k += blockDim.x)
    shared[k] = double(ly[std::size_t(r) * classes + k]) + label_b[k];
  __syncthreads();
  if (threadIdx.x == 0) {
    softmax_units::mean(shared, classes, shared + classes);
    y[r] = softmax_units::sample(shared + classes, classes, u[r]);
  }
}

__global__ void label_gradient_kernel(const float* __restrict__ pre, const float* __restrict__ hb,
                                      const float* __restrict__ label_w, const float* __restrict__ d,
                                      const int* __restrict__ y, const int* __restrict__ ys,
                                      const float* __restrict__ h0p, const float* __restrict__ hp, int rows, int nh,
                                      int classes, float disc_weight, float gen_weight, float* __restrict__ grad_w,
                                      float* __restrict__ grad_b, unit_kind kind) {
  const int k = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j < nh) {
    const float ukj = label_w[std::size_t(k) * nh + j];
    float sum = 0.0f;
    if (d != nullptr)
      for (int r = 0; r < rows; ++r) {
        const std::size_t i = std::size_t(r) * nh + j;
        const float dk = __fmul_rn(d[std::size_t(r) * classes + k], disc_weight);
        sum = __fadd_rn(sum, __fmul_rn(dk, unit_mean(kind, __fadd_rn(hidden_input(pre, hb, i, j), ukj))));
      }
    if (ys != nullptr)
      for (int r = 0; r < rows; ++r) {
        const std::size_t i = std::size_t(r) * nh + j;
        if (y[r] == k) sum = __fadd_rn(sum, __fmul_rn(gen_weight, h0p[i]));
        if (ys[r] == k) sum = __fsub_rn(sum, __fmul_rn(gen_weight, hp[i]));
      }
    grad_w[std::size_t(k) * nh + j] = sum;
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    float sum = 0.0f;
    if (d != nullptr)
      for (int r = 0; r < rows; ++r) sum = __fadd_rn(sum, __fmul_rn(d[std::size_t(r) * classes + k], disc_weight));
    if (ys != nullptr)
      for (int r = 0; r < rows; ++r) {
        if (y[r] == k) sum = __fadd_rn(sum, gen_weight);
        if (ys[r] == k) sum = __fsub_rn(sum, gen_weight);
      }
    grad_b[k] = sum;
  }
}

__global__ void label_hidden_gradient_kernel(const float* __restrict__ g, const float* __restrict__ h0p,
                                             const float* __restrict__ hp, int rows, int nh, float disc_weight,
                                             float gen_weight, float* __restrict__ grad) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= nh) return;
  float sum = 0.0f;
  if (g != nullptr)
    for (int r = 0; r < rows; ++r) sum = __fadd_rn(sum, __fmul_rn(disc_weight, g[std::size_t(r) * nh + j]));
  if (h0p != nullptr)
    for (int r = 0; r < rows; ++r) {
      const std::size_t i = std::size_t(r) * nh + j;
      sum = __fadd_rn(sum, __fmul_rn(gen_weight, __fsub_rn(h0p[i], hp[i])));
    }
  grad[j] = sum;
}

__global__ void momentum_step_kernel(const float* __restrict__ grad, std::size_t n, float scale, float momentum,
                                     float decay, float* __restrict__ vel, float* __restrict__ param) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
    const float v =
        decayed_velocity(__fadd_rn(__fmul_rn(momentum, vel[i]), __fmul_rn(scale, grad[i])), param[i], decay);
    vel[i] = v;
    param[i] = __fadd_rn(param[i], v);
  }
}

// Dynamic shared memory of a per-row softmax kernel: logits and probabilities, K doubles each. Above
// the default 48 KiB per block (the kernel's static shared memory, CUB's temporary storage, counted:
// 3,068 to 3,072 classes) the kernel opts in to more, as far as the device allows (64 KiB on Turing,
// 227 KiB on Hopper).
template <class Kernel>
std::size_t softmax_shared_bytes(Kernel* kernel, int classes) {
  const std::size_t bytes = 2 * std::size_t(classes) * sizeof(double);
  cudaFuncAttributes attr{};
  RBM_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
  const std::size_t total = bytes + attr.sharedSizeBytes;
  if (total <= 48 * 1024) return bytes;
  int device = 0, optin = 0;
  RBM_CUDA_CHECK(cudaGetDevice(&device));
  RBM_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (total > std::size_t(optin))
    throw precondition_error("a label group of " + std::to_string(classes) + " classes needs " + std::to_string(total) +
                             " bytes of shared memory per block; this GPU has " + std::to_string(optin));
  RBM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  return bytes;
}

}  // namespace

void label_hidden(const float* pre, const float* hb, const float* label_w, const int* y, const float* u, float* prob,
                  float* state, int rows, int nh, stream_view s, unit_kind hidden) {
  RBM_EXPECTS(pre && hb && label_w && y && prob && rows > 0 && nh > 0 && (state == nullptr || u != nullptr));
  const std::size_t n = std::size_t(rows) * nh;
  label_hidden_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(pre, hb, label_w, y, u, prob, state,
                                                                               rows, nh, hidden);
  RBM_CHECK_LAUNCH(label_hidden_kernel);
}

void label_discriminative(const float* pre, const float* hb, const float* label_w, const float* label_b, const int* y,
                          int rows, int nh, int classes, float* g, float* d, double* loss, stream_view s,
                          unit_kind hidden) {
  RBM_EXPECTS(pre && hb && label_w && label_b && y && g && d && loss && rows > 0 && nh > 0 && classes >= 2);
  const std::size_t shared = softmax_shared_bytes(label_discriminative_kernel, classes);
  label_discriminative_kernel<<<rows, row_threads, shared, s.get()>>>(pre, hb, label_w, label_b, y, nh, classes, g, d,
                                                                     loss, hidden);
  RBM_CHECK_LAUNCH(label_discriminative_kernel);
}

void label_logits(const float* pre, const float* hb, const float* label_w, const float* label_b, int rows, int nh,
                  int classes, double* logits, stream_view s, unit_kind hidden) {
  RBM_EXPECTS(pre && hb && label_w && label_b && logits && rows > 0 && nh > 0 && classes >= 2);
  const std::size_t shared = softmax_shared_bytes(label_logits_kernel, classes);
  label_logits_kernel<<<rows, row_threads, shared, s.get()>>>(pre, hb, label_w, label_b, nh, classes, logits, hidden);
  RBM_CHECK_LAUNCH(label_logits_kernel);
}

void sample_labels(const float* ly, const float* label_b, const float* u, int rows, int classes, int* y,
                   stream_view s) {
  RBM_EXPECTS(ly && label_b && u && y && rows > 0 && classes >= 2);
  const std::size_t shared = softmax_shared_bytes(sample_labels_kernel, classes);
  sample_labels_kernel<<<rows, 32, shared, s.get()>>>(ly, label_b, u, classes, y);
  RBM_CHECK_LAUNCH(sample_labels_kernel);
}

void label_gradient(const float* pre, const float* hb, const float* label_w, const float* d, const int* y,
                    const int* ys, const float* h0p, const float* hp, int rows, int nh, int classes, float disc_weight,
                    float gen_weight, float* grad_w, float* grad_b, stream_view s, unit_kind hidden) {
  RBM_EXPECTS(pre && hb && label_w && y && grad_w && grad_b && rows > 0 && nh > 0 && classes >= 2 &&
              (ys == nullptr || (h0p && hp)));
  constexpr int threads = 128;
  const dim3 grid(unsigned((nh + threads - 1) / threads), unsigned(classes));
  label_gradient_kernel<<<grid, threads, 0, s.get()>>>(pre, hb, label_w, d, y, ys, h0p, hp, rows, nh, classes,
                                                       disc_weight, gen_weight, grad_w, grad_b, hidden);
  RBM_CHECK_LAUNCH(label_gradient_kernel);
}

void label_hidden_gradient(const float* g, const float* h0p, const float* hp, int rows, int nh, float disc_weight,
                           float gen_weight, float* grad, stream_view s) {
  RBM_EXPECTS(grad && rows > 0 && nh > 0 && (h0p == nullptr || hp != nullptr));
  constexpr int threads = 128;
  label_hidden_gradient_kernel<<<unsigned((nh + threads - 1) / threads), threads, 0, s.get()>>>(
      g, h0p, hp, rows, nh, disc_weight, gen_weight, grad);
  RBM_CHECK_LAUNCH(label_hidden_gradient_kernel);
}

void momentum_step(const float* grad, std::size_t n, float scale, float momentum, float decay, float* vel,
                   float* param, stream_view s) {
  RBM_EXPECTS(grad && vel && param && n > 0);
  momentum_step_kernel<<<detail::grid_for(n), detail::block_size, 0, s.get()>>>(grad, n, scale, momentum, decay, vel,
                                                                               param);
  RBM_CHECK_LAUNCH(momentum_step_kernel);
}

}  // namespace rbm
