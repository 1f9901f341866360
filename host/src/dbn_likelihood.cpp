// The likelihoods of a deep belief network: the exact log p(v) by enumeration (tiny stacks) and the
// variational lower bound (exact over the first hidden layer, or Monte Carlo over the up-pass), in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/stack.hpp"

namespace rbm {
namespace {

constexpr std::uint64_t bound_seed_salt = 0xb0bdull;

double softplus_d(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// The bits of configuration c as a vector of n values.
void bits(std::uint64_t c, int n, std::vector<double>& out) {
  out.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) out[std::size_t(i)] = double((c >> i) & 1u);
}

// log p(x | h) of a directed layer (its vb and W: x [nv], h [nh]).
double log_down(const model_params& p, const double* x, const double* h) {
  double s = 0;
  for (int a = 0; a < p.nv; ++a) {
    double z = p.vb[std::size_t(a)];
    for (int b = 0; b < p.nh; ++b) z += double(p.w[std::size_t(a) * p.nh + b]) * h[b];
    s += x[a] * z - softplus_d(z);
  }
  return s;
}

// q(h = 1 | x) of the up-pass [nh], and log q(h | x) of a given h.
void up_probs(const model_params& p, const double* x, std::vector<double>& prob) {
  prob.resize(std::size_t(p.nh));
  for (int b = 0; b < p.nh; ++b) {
    double y = p.hb[std::size_t(b)];
    for (int a = 0; a < p.nv; ++a) y += x[a] * double(p.w[std::size_t(a) * p.nh + b]);
    prob[std::size_t(b)] = y;  // the logit, for log_up
  }
}
double log_up(const std::vector<double>& logit, const double* h) {
  double s = 0;
  for (std::size_t b = 0; b < logit.size(); ++b) s += h[b] * logit[b] - softplus_d(logit[b]);
  return s;
}

// -F(x) of the top RBM: x.vb + sum_j softplus(hb_j + (x W)_j); with a label group, the labels summed
// out: log sum_y exp(x.vb + b_y + sum_j softplus(hb_j + U_yj + (x W)_j)).
double neg_free_energy(const model_params& p, const double* x) {
  double s = 0;
  for (int a = 0; a < p.nv; ++a) s += x[a] * p.vb[std::size_t(a)];
  std::vector<double> xw(std::size_t(p.nh));
  for (int b = 0; b < p.nh; ++b) {
    double y = 0;
    for (int a = 0; a < p.nv; ++a) y += x[a] * double(p.w[std::size_t(a) * p.nh + b]);
    xw[std::size_t(b)] = y;
  }
  if (!p.labeled()) {
    for (int b = 0; b < p.nh; ++b) s += softplus_d(p.hb[std::size_t(b)] + xw[std::size_t(b)]);
    return s;
  }
  // Each class's hidden biases rounded as clamp_label rounds them (in float), so that the partition
  // functions top_log_z takes of the clamped models normalise exactly this.
  std::vector<double> per_class(std::size_t(p.classes));
  for (int k = 0; k < p.classes; ++k) {
    double t = p.label_b[std::size_t(k)];
    for (int b = 0; b < p.nh; ++b) {
      const float c = p.hb[std::size_t(b)] + p.label_w[std::size_t(k) * p.nh + b];
      t += softplus_d(c + xw[std::size_t(b)]);
    }
    per_class[std::size_t(k)] = t;
  }
  return s + log_sum_exp(per_class);
}

void check_stack(const stack_model& m) {
  RBM_EXPECTS(!m.layers.empty());
  for (std::size_t i = 0; i < m.layers.size(); ++i)
    if (m.layers[i].gaussian() || m.layers[i].categorical() || m.layers[i].hidden != unit_kind::bernoulli ||
        (m.layers[i].labeled() && i + 1 < m.layers.size()))
      throw precondition_error("the likelihood of a stack is for Bernoulli layers (Bernoulli visible and hidden "
                               "units; a label group on the top only)");
}

}  // namespace

double top_log_z(const model_params& p, const std::function<double(const model_params&)>& log_z_of) {
  if (!p.labeled()) return log_z_of(p);
  std::vector<double> terms(std::size_t(p.classes));
  for (int k = 0; k < p.classes; ++k) terms[std::size_t(k)] = double(p.label_b[std::size_t(k)]) + log_z_of(clamp_label(p, k));
  return log_sum_exp(terms);
}

std::vector<double> dbn_exact_log_likelihood(const stack_model& m, const float* v, int rows) {
  check_stack(m);
  RBM_EXPECTS(v != nullptr && rows >= 0);
  const int top = int(m.layers.size()) - 1;
  const model_params& t = m.layers[std::size_t(top)];
  const double log_z = top_log_z(t, [](const model_params& q) { return exact_log_z(q, 24); });
  std::vector<double> out(static_cast<std::size_t>(rows));
  std::vector<double> x, h;
  if (top == 0) {
    for (int r = 0; r < rows; ++r) {
      x.assign(v + std::size_t(r) * t.nv, v + std::size_t(r + 1) * t.nv);
      out[std::size_t(r)] = neg_free_energy(t, x.data()) - log_z;
    }
    return out;
  }
  // A over the top's visible configurations, then down to the first hidden layer.
  if (t.nv > 24) throw precondition_error("the exact likelihood of a stack enumerates the top's " + std::to_string(t.nv) +
                                          " visible units: at most 24");
  std::vector<double> a(std::size_t(1) << t.nv);
  for (std::uint64_t c = 0; c < a.size(); ++c) {
    bits(c, t.nv, x);
    a[c] = neg_free_energy(t, x.data()) - log_z;
  }
  for (int l = top - 1; l >= 1; --l) {  // A_l(x_l) = logsumexp_h log p(x_l | h) + A_{l+1}(h)
    const model_params& p = m.layers[std::size_t(l)];
    if (p.nv + p.nh > 26)
      throw precondition_error("the exact likelihood of a stack enumerates layer " + std::to_string(l + 1) + "'s " +
                               std::to_string(p.nv) + " + " + std::to_string(p.nh) + " units: at most 26 together");
    std::vector<double> below(std::size_t(1) << p.nv), terms(std::size_t(1) << p.nh);
    for (std::uint64_t c = 0; c < below.size(); ++c) {
      bits(c, p.nv, x);
      for (std::uint64_t d = 0; d < terms.size(); ++d) {
        bits(d, p.nh, h);
        terms[d] = log_down(p, x.data(), h.data()) + a[d];
      }
      below[c] = log_sum_exp(terms);
    }
    a = std::move(below);
  }
  const model_params& p0 = m.layers[0];
  if (p0.nh > 20) throw precondition_error("the exact likelihood of a stack enumerates its first hidden layer's " +
                                           std::to_string(p0.nh) + " units per row: at most 20");
  std::vector<double> terms(std::size_t(1) << p0.nh);
  for (int r = 0; r < rows; ++r) {
    x.assign(v + std::size_t(r) * p0.nv, v + std::size_t(r + 1) * p0.nv);
    for (std::uint64_t d = 0; d < terms.size(); ++d) {
      bits(d, p0.nh, h);
      terms[d] = log_down(p0, x.data(), h.data()) + a[d];
    }
    out[std::size_t(r)] = log_sum_exp(terms);
  }
  return out;
}

std::vector<double> dbn_lower_bound(const stack_model& m, const float* v, int rows, double top_log_z, int samples,
                                    std::uint64_t seed) {
  check_stack(m);
  RBM_EXPECTS(v != nullptr && rows >= 0 && samples >= 0);
  const int top = int(m.layers.size()) - 1;
  const model_params& t = m.layers[std::size_t(top)];
  std::vector<double> out(static_cast<std::size_t>(rows));
  std::vector<double> x, h, logit;
  for (int r = 0; r < rows; ++r) {
    x.assign(v + std::size_t(r) * m.layers[0].nv, v + std::size_t(r + 1) * m.layers[0].nv);
    if (top == 0) {
      out[std::size_t(r)] = neg_free_energy(t, x.data()) - top_log_z;
      continue;
    }
    if (samples == 0) {  // exact over h1: sum_h q(h | v) [-F_top(h) + log p(v | h) - log q(h | v)]
      if (top != 1) throw precondition_error("the exact bound enumerates one hidden layer: two-layer stacks (else sample)");
      const model_params& p0 = m.layers[0];
      if (p0.nh > 20) throw precondition_error("the exact bound enumerates the first hidden layer's " +
                                               std::to_string(p0.nh) + " units: at most 20 (else sample)");
      up_probs(p0, x.data(), logit);
      double s = 0;
      for (std::uint64_t d = 0; d < (std::uint64_t(1) << p0.nh); ++d) {
        bits(d, p0.nh, h);
        const double lq = log_up(logit, h.data());
        s += std::exp(lq) * (neg_free_energy(t, h.data()) + log_down(p0, x.data(), h.data()) - lq);
      }
      out[std::size_t(r)] = s - top_log_z;
      continue;
    }
    // Monte Carlo: the up-pass drawn `samples` times; uniforms at a fixed place per row and sample.
    std::size_t width = 0;
    for (int l = 0; l < top; ++l) width += std::size_t(m.layers[std::size_t(l)].nh);
    std::vector<float> u(width);
    double s = 0;
    for (int k = 0; k < samples; ++k) {
      cpu::philox_uniforms(seed ^ bound_seed_salt, (std::uint64_t(r) * samples + k) * width, u.data(), width);
      std::vector<double> below = x;
      double term = 0;
      std::size_t at = 0;
      for (int l = 0; l < top; ++l) {
        const model_params& p = m.layers[std::size_t(l)];
        up_probs(p, below.data(), logit);
        h.resize(std::size_t(p.nh));
        for (int b = 0; b < p.nh; ++b) h[std::size_t(b)] = u[at + b] < 1 / (1 + std::exp(-logit[std::size_t(b)])) ? 1 : 0;
        at += std::size_t(p.nh);
        term += log_down(p, below.data(), h.data()) - log_up(logit, h.data());
        below = h;
      }
      s += term + neg_free_energy(t, below.data());
    }
    out[std::size_t(r)] = s / samples - top_log_z;
  }
  return out;
}

}  // namespace rbm
