// The hidden layer's passes for every hidden unit kind (see cpu_hidden_units.hpp).
#include "rbm/host/cpu_hidden_units.hpp"

#include <cstddef>

#include "rbm/host/cpu_kernels.hpp"

namespace rbm::cpu {

void hidden_mean_rows(unit_kind k, float* x, const float* bias, int rows, int cols) {
  if (k == unit_kind::bernoulli) return sigmoid_rows(x, bias, rows, cols);
  for (int r = 0; r < rows; ++r) {
    float* row = x + std::size_t(r) * cols;
    for (int c = 0; c < cols; ++c) row[c] = float(hidden_mean(k, double(row[c]) + bias[c]));
  }
}

void hidden_sample_rows(unit_kind k, float* x, const float* bias, const float* u, int rows, int cols, float* states) {
  if (k == unit_kind::bernoulli) return sigmoid_sample_rows(x, bias, u, rows, cols, states);
  for (std::size_t i = 0, n = std::size_t(rows) * cols; i < n; ++i) {
    const double a = double(x[i]) + bias[i % cols];
    x[i] = float(hidden_mean(k, a));
    states[i] = float(hidden_sample(k, a, u[i]));
  }
}

double hidden_log_integral_sum(unit_kind k, const double* x, int n) {
  if (k == unit_kind::bernoulli) return softplus_sum(x, n);
  double s = 0;
  for (int j = 0; j < n; ++j) s += hidden_log_integral(k, x[j]);
  return s;
}

void ais_hidden_rows(unit_kind k, const float* pre, const float* hb, double beta, const float* u, int rows, int nh,
                     float* h) {
  if (k == unit_kind::bernoulli) return ais_sample_hidden(pre, hb, beta, u, rows, nh, h);
  for (std::size_t i = 0, n = std::size_t(rows) * nh; i < n; ++i)
    h[i] = float(hidden_sample(k, beta * (double(pre[i]) + hb[i % nh]), u[i]));
}

void ais_add_hidden_log_weights(unit_kind k, const float* v, const float* dvb, const float* pre, const float* hb,
                                double beta, double beta_prev, int rows, int nv, int nh, double* logw) {
  if (k == unit_kind::bernoulli) return ais_add_log_weights(v, dvb, pre, hb, beta, beta_prev, rows, nv, nh, logw);
  for (int r = 0; r < rows; ++r) {
    const float* vr = v + std::size_t(r) * nv;
    const float* xr = pre + std::size_t(r) * nh;
    double lin = 0, hid = 0;
    for (int i = 0; i < nv; ++i) lin += double(vr[i] * dvb[i]);
    for (int j = 0; j < nh; ++j) {
      const double x = double(xr[j]) + hb[j];
      hid += hidden_log_integral(k, beta * x) - hidden_log_integral(k, beta_prev * x);
    }
    logw[r] += (beta - beta_prev) * lin + hid;
  }
}

double pseudo_log_likelihood_row(unit_kind k, const float* v, const float* w, const float* vb, const double* x, int nv,
                                 int nh) {
  if (k == unit_kind::bernoulli) return pseudo_log_likelihood_row(v, w, vb, x, nv, nh);
  const double base = hidden_log_integral_sum(k, x, nh);
  double total = 0;
  for (int i = 0; i < nv; ++i) {
    const double sign = 1.0 - 2.0 * v[i];
    const float* wi = w + std::size_t(i) * nh;
    double flipped = 0;
    for (int j = 0; j < nh; ++j) flipped += hidden_log_integral(k, x[j] + sign * wi[j]);
    total -= hidden_log_integral(unit_kind::bernoulli, sign * vb[i] + flipped - base);  // softplus
  }
  return total;
}

}  // namespace rbm::cpu
