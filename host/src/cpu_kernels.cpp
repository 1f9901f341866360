// Element-wise passes of the CPU backend (see cpu_kernels.hpp for why this file has its own flags).
#include "rbm/host/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rbm/math.hpp"
#include "rbm/units.hpp"

// RBM_NO_CLONES (the ThreadSanitizer build, scripts/sanitize.sh): baseline code only. Clang 14 emits
// only the first clone (AVX-512) of an externally visible target_clones function, which faults on a
// CPU without AVX-512.
#if defined(RBM_NO_CLONES)
#define RBM_CLONES
#else
#define RBM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace rbm::cpu {
namespace {

RBM_CLONES void sigmoid_row(float* x, const float* bias, int cols) {
  for (int c = 0; c < cols; ++c) x[c] = sigmoid(x[c] + bias[c]);
}

RBM_CLONES void sample_span(const float* p, const float* u, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bernoulli(p[i], u[i]);
}

RBM_CLONES void sigmoid_sample_row(float* x, const float* bias, const float* u, int cols, float* states) {
  for (int c = 0; c < cols; ++c) {
    const float p = sigmoid(x[c] + bias[c]);
    x[c] = p;
    states[c] = bernoulli(p, u[c]);
  }
}

// u < 1 / (1 + e) for a >= 0 and u < e / (1 + e) below, e = exp(-|a|), decided without the division.
RBM_CLONES void sample_logistic_row(float* x, const float* bias, const float* u, int cols) {
  for (int c = 0; c < cols; ++c) {
    const float a = x[c] + bias[c], e = expf(-fabsf(a));
    x[c] = u[c] * (1.0f + e) < (a >= 0.0f ? 1.0f : e) ? 1.0f : 0.0f;
  }
}

// Two passes for a sample, the mean and then the noise: in one expression -ffast-math reassociates
// (vb + sigma x) + sigma n into vb + sigma (x + n) (904 of 1961 elements differed from the device's
// step-by-step rounding); a stored mean is rounded where the device rounds it.
RBM_CLONES void gaussian_mean_row(float* x, const float* vb, const float* sigma, int cols) {
  for (int c = 0; c < cols; ++c) x[c] = gaussian_units::mean(vb[c], sigma[c], x[c]);
}

RBM_CLONES void gaussian_noise_row(float* x, const float* sigma, const float* normals, int cols) {
  for (int c = 0; c < cols; ++c) x[c] = gaussian_units::sample(x[c], sigma[c], normals[c]);
}

RBM_CLONES void scale_by_sigma_row(const float* v, const float* sigma, int cols, float* out) {
  for (int c = 0; c < cols; ++c) out[c] = gaussian_units::scaled(v[c], sigma[c]);
}

}  // namespace

void gaussian_visible_rows(float* x, const float* vb, const float* sigma, const float* normals, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * cols;
    gaussian_mean_row(x + o, vb, sigma, cols);
    if (normals != nullptr) gaussian_noise_row(x + o, sigma, normals + o, cols);
  }
}

void scale_by_sigma_rows(const float* v, const float* sigma, int rows, int cols, float* out) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * cols;
    scale_by_sigma_row(v + o, sigma, cols, out + o);
  }
}

void sigmoid_rows(float* x, const float* bias, int rows, int cols) {
  for (int r = 0; r < rows; ++r) sigmoid_row(x + std::size_t(r) * cols, bias, cols);
}

void sample(const float* p, const float* u, std::size_t n, float* out) { sample_span(p, u, n, out); }

void sigmoid_sample_rows(float* x, const float* bias, const float* u, int rows, int cols, float* states) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * cols;
    sigmoid_sample_row(x + o, bias, u + o, cols, states + o);
  }
}

void sample_logistic_rows(float* x, const float* bias, const float* u, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * cols;
    sample_logistic_row(x + o, bias, u + o, cols);
  }
}

void categorical_mean_rows(float* x, const float* vb, int rows, int sites, int q) {
  std::vector<double> a(static_cast<std::size_t>(q)), p(static_cast<std::size_t>(q));
  for (std::size_t g = 0, groups = std::size_t(rows) * sites; g < groups; ++g) {
    float* site = x + g * q;
    const float* b = vb + (g % sites) * q;
    for (int k = 0; k < q; ++k) a[k] = double(site[k]) + b[k];
    softmax_units::mean(a.data(), q, p.data());
    for (int k = 0; k < q; ++k) site[k] = float(p[k]);
  }
}

void categorical_draw_rows(float* p, const float* u, int rows, int sites, int q) {
  std::vector<double> d(static_cast<std::size_t>(q));
  for (std::size_t g = 0, groups = std::size_t(rows) * sites; g < groups; ++g) {
    float* site = p + g * q;
    for (int k = 0; k < q; ++k) d[k] = site[k];
    const int pick = softmax_units::sample(d.data(), q, u[g]);
    for (int k = 0; k < q; ++k) site[k] = k == pick ? 1.0f : 0.0f;
  }
}

// Float lanes within blocks of 1024 (each term is at most 1 for pixels and states: the block sums are
// exact to ~1e-4 relative), the blocks summed in double.
RBM_CLONES double squared_error(const float* a, const float* b, std::size_t n) {
  double s = 0;
  for (std::size_t i0 = 0; i0 < n; i0 += 1024) {
    const std::size_t i1 = std::min(n, i0 + 1024);
    float block = 0;
    for (std::size_t i = i0; i < i1; ++i) {
      const float d = a[i] - b[i];
      block += d * d;
    }
    s += block;
  }
  return s;
}

RBM_CLONES void column_diff_sums(const float* pos, const float* neg, int rows, int cols, std::size_t c0, std::size_t c1,
                                 float* g) {
  std::fill(g + c0, g + c1, 0.0f);
  for (int r = 0; r < rows; ++r) {
    const float* a = pos + std::size_t(r) * cols;
    const float* b = neg + std::size_t(r) * cols;
    for (std::size_t c = c0; c < c1; ++c) g[c] += a[c] - b[c];
  }
}

RBM_CLONES void scale_bytes(const std::uint8_t* src, int n, float scale, float* dst) {
  for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) * scale;
}

// Annealed importance sampling: the expressions of cuda/src/ais_kernels.cu, row by row.
RBM_CLONES void ais_hidden_row(const float* pre, const float* hb, double beta, const float* u, int nh, float* h) {
  for (int j = 0; j < nh; ++j) h[j] = bernoulli(sigmoid(float(beta * (double(pre[j]) + hb[j]))), u[j]);
}

RBM_CLONES void ais_visible_row(const float* vpre, const float* vb, const float* base_vb, double beta, const float* u,
                                int nv, float* v) {
  for (int i = 0; i < nv; ++i)
    v[i] = bernoulli(sigmoid(float(ais_visible_input(beta, base_vb[i], vpre[i], vb[i]))), u[i]);
}

RBM_CLONES void ais_base_row(const float* base_vb, const float* u, int nv, float* v) {
  for (int i = 0; i < nv; ++i) v[i] = bernoulli(sigmoid(base_vb[i]), u[i]);
}

RBM_CLONES double ais_increment_row(const float* v, const float* dvb, int nv, const float* pre, const float* hb, int nh,
                                    double beta, double beta_prev) {
  double lin = 0, hid = 0;
  for (int i = 0; i < nv; ++i) lin += double(v[i] * dvb[i]);
  for (int j = 0; j < nh; ++j) {
    const double x = double(pre[j]) + hb[j];
    hid += double(softplus(float(beta * x))) - double(softplus(float(beta_prev * x)));
  }
  return (beta - beta_prev) * lin + hid;
}

// The pseudo-log-likelihood's sums, in double (glibc's vector exp and log1p).
inline double softplus_double(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

RBM_CLONES double flipped_softplus_sum(const double* x, double sign, const float* w, int n) {
  double s = 0;
  for (int j = 0; j < n; ++j) s += softplus_double(x[j] + sign * w[j]);
  return s;
}

RBM_CLONES void apply_weight_step(float* w, float* vel, std::size_t n, float decay) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = decayed_velocity(vel[i], w[i], decay);
    vel[i] = v;
    w[i] += v;
  }
}

void ais_sample_hidden(const float* pre, const float* hb, double beta, const float* u, int rows, int nh, float* h) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * nh;
    ais_hidden_row(pre + o, hb, beta, u + o, nh, h + o);
  }
}

void ais_sample_visible(const float* vpre, const float* vb, const float* base_vb, double beta, const float* u, int rows,
                        int nv, float* v) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = std::size_t(r) * nv;
    if (beta == 0.0)
      ais_base_row(base_vb, u + o, nv, v + o);
    else
      ais_visible_row(vpre + o, vb, base_vb, beta, u + o, nv, v + o);
  }
}

void ais_add_log_weights(const float* v, const float* dvb, const float* pre, const float* hb, double beta,
                         double beta_prev, int rows, int nv, int nh, double* logw) {
  for (int r = 0; r < rows; ++r)
    logw[r] += ais_increment_row(v + std::size_t(r) * nv, dvb, nv, pre + std::size_t(r) * nh, hb, nh, beta, beta_prev);
}

RBM_CLONES double softplus_sum(const double* x, int n) {
  double s = 0;
  for (int j = 0; j < n; ++j) s += softplus_double(x[j]);
  return s;
}

double pseudo_log_likelihood_row(const float* v, const float* w, const float* vb, const double* x, int nv, int nh) {
  const double base = softplus_sum(x, nh);  // the hidden part of -F(v)
  double total = 0;
  for (int i = 0; i < nv; ++i) {
    const double sign = 1.0 - 2.0 * v[i];
    total -= softplus_double(sign * vb[i] + flipped_softplus_sum(x, sign, w + std::size_t(i) * nh, nh) - base);
  }
  return total;
}

}  // namespace rbm::cpu
