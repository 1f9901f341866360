// A naive double-precision CD-k / PCD-k step straight from DESIGN.md's maths, shared by the CPU
// backend's test (tests/test_cpu_cd_step.cpp) and the GPU's (tests/gpu/test_gpu_model.cpp): fed the
// same uniforms as a backend, it says what the update must be and which draws were ambiguous.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "rbm/cd_config.hpp"
#include "rbm/host/backend.hpp"

namespace rbm_test {

struct ref_model {
  int nv, nh;
  std::vector<double> w, vb, hb, vel_w, vel_vb, vel_hb, chain;
  std::vector<double> sigma;  // Gaussian visible units' standard deviations; empty: Bernoulli
  std::vector<double> vel_log_sigma = {};  // learned sigma's momentum
  int states = 0;  // categorical visible units: Q states per site (nv = sites x Q, the state fastest)
  rbm::unit_kind hidden = rbm::unit_kind::bernoulli;  // or gaussian, relu
};

inline double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The standard normal's upper tail Q(z), in long double.
inline long double upper_tail(long double z) { return 0.5L * std::erfc(z / std::sqrt(2.0L)); }

// log of the integral of exp(x h - h^2 / 2) over the unit's values (h >= 0 for ReLU), the mean and the
// variance of that density, by Simpson's rule in long double around the mode.
struct integral {
  double log_z, mean, variance;
};
inline integral integrate(rbm::unit_kind k, double x) {
  const double mode = k == rbm::unit_kind::relu ? std::max(x, 0.0) : x;
  // Where the density is above e^-30 of its top (for ReLU at x < 0: exp(x h) decays on 1 / |x|).
  const double width = k == rbm::unit_kind::relu && x < -1 ? 30.0 / -x : 14.0;
  const long double lo = k == rbm::unit_kind::relu ? 0.0L : mode - width, hi = mode + width;
  const int n = 40000;
  const long double step = (hi - lo) / n, top = x * mode - 0.5 * mode * mode;
  long double z = 0, first = 0, second = 0;
  for (int i = 0; i <= n; ++i) {
    const long double h = lo + i * step, f = std::exp(x * h - 0.5L * h * h - top);
    const long double weight = i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2;
    z += weight * f;
    first += weight * f * h;
    second += weight * f * h * h;
  }
  const long double mean = first / z;
  return {double(std::log(z * step / 3) + top), double(mean), double(second / z - mean * mean)};
}

// The continuous hidden units from their definitions: density proportional to exp(a h - h^2 / 2) on
// the real line (Gaussian) or on h >= 0 (ReLU). The mean: a, or a + phi(a) / Phi(a); a draw by
// inverting the upper tail at u by bisection (Gaussian: Q(h - a) = u; ReLU: Q(h - a) = u Q(-a)).
inline double hidden_mean_ref(rbm::unit_kind k, double a) {
  if (k == rbm::unit_kind::bernoulli) return sig(a);
  if (k == rbm::unit_kind::gaussian) return a;
  const long double phi = std::exp(-0.5L * a * a) / std::sqrt(2.0L * 3.14159265358979323846L);
  return double(a + phi / upper_tail(-(long double)a));
}
inline double hidden_draw_ref(rbm::unit_kind k, double a, float u) {
  long double lo = -60, hi = 60;  // z = h - a
  const long double target = k == rbm::unit_kind::relu ? u * upper_tail(-(long double)a) : (long double)u;
  if (k == rbm::unit_kind::relu) lo = -a;
  for (int i = 0; i < 200; ++i) {
    const long double mid = 0.5L * (lo + hi);
    (upper_tail(mid) > target ? lo : hi) = mid;  // Q decreasing: Q(mid) > target means z lies above mid
  }
  return double(a + 0.5L * (lo + hi));
}

// Straight from DESIGN.md's maths (and, for Gaussian visible units, rbm/units.hpp's energy), loops
// only. `draws` holds the step's draws where rbm::make_draw_layout puts them. `ambiguous` counts
// draws whose u lies within 2e-6 of p, where float rounding could legitimately flip the state. Returns
// the step's reconstruction error, mean (v0 - v1)^2 over the batch's values with v1 the first
// reconstruction.
inline double ref_cd_step(ref_model& m, const std::vector<double>& v0, int B, const float* draws,
                          const rbm::cd_config& c, int& ambiguous) {
  const int nv = m.nv, nh = m.nh;
  const bool gauss = !m.sigma.empty();
  const rbm::cd_draw_layout lay = rbm::make_draw_layout(B, c);
  const float* u = draws;
  // What the hidden layer sees of a visible row: v, or v / sigma.
  auto view = [&](const std::vector<double>& v) {
    std::vector<double> s = v;
    if (gauss)
      for (int i = 0; i < B * nv; ++i) s[i] /= m.sigma[i % nv];
    return s;
  };
  auto draw = [&](double p, float uu) {
    if (std::fabs(p - uu) < 2e-6) ++ambiguous;
    return uu < p ? 1.0 : 0.0;
  };
  std::vector<double> input(B * nh);  // the hidden units' total inputs, for their draws
  auto hidden = [&](const std::vector<double>& v, std::vector<double>& hp) {
    for (int r = 0; r < B; ++r)
      for (int j = 0; j < nh; ++j) {
        double a = m.hb[j];
        for (int i = 0; i < nv; ++i) a += v[r * nv + i] * m.w[i * nh + j];
        input[r * nh + j] = a;
        hp[r * nh + j] = hidden_mean_ref(m.hidden, a);
      }
  };
  auto draw_hidden = [&](const std::vector<double>& hp, int i, float uu) {
    return m.hidden == rbm::unit_kind::bernoulli ? draw(hp[i], uu) : hidden_draw_ref(m.hidden, input[i], uu);
  };
  std::vector<double> h0p(B * nh), h0s(B * nh), hs(B * nh), hp(B * nh), vs(B * nv);
  const std::vector<double> s0 = view(v0);
  hidden(s0, h0p);
  // Learned sigma: sum over rows of -dE/dlog sigma_i = (v_i - b_i)^2 / sigma_i^2 - (v_i / sigma_i) (h W^T)_i
  // with hidden probabilities h, at the data minus at the chain's end, with the parameters before the update.
  const bool learn_sigma = gauss && c.learn_sigma;
  std::vector<double> gz(nv, 0.0);
  auto sigma_terms = [&](const std::vector<double>& v, const std::vector<double>& h, double sign) {
    for (int r = 0; r < B; ++r)
      for (int i = 0; i < nv; ++i) {
        double x = 0;
        for (int j = 0; j < nh; ++j) x += h[r * nh + j] * m.w[i * nh + j];
        const double d = (v[r * nv + i] - m.vb[i]) / m.sigma[i];
        gz[i] += sign * (d * d - v[r * nv + i] / m.sigma[i] * x);
      }
  };
  if (learn_sigma) sigma_terms(v0, h0p, 1.0);
  for (int i = 0; i < B * nh; ++i) h0s[i] = draw_hidden(h0p, i, *u++);  // segment h0 starts at 0
  if (c.pcd) {  // persistent chains; a larger batch than before seeds the missing ones from the data
    for (std::size_t i = m.chain.size(); i < h0s.size(); ++i) m.chain.push_back(h0s[i]);
    hs.assign(m.chain.begin(), m.chain.begin() + B * nh);
  } else {
    hs = h0s;
  }
  double err = 0;
  std::vector<double> ss;
  for (int step = 0; step < c.k; ++step) {
    u = draws + lay.v(step);
    for (int r = 0; r < B; ++r)
      for (int i = 0; i < nv; ++i) {
        double x = 0;
        for (int j = 0; j < nh; ++j) x += hs[r * nh + j] * m.w[i * nh + j];
        vs[r * nv + i] = gauss ? m.vb[i] + m.sigma[i] * x : m.states > 0 ? m.vb[i] + x : sig(m.vb[i] + x);
      }
    if (m.states > 0) {  // each site: softmax over its states, one uniform picks one (cumulative)
      const int q = m.states, sites = nv / q;
      for (int g = 0; g < B * sites; ++g) {
        double* a = vs.data() + std::size_t(g) * q;
        const double top = *std::max_element(a, a + q);
        double z = 0;
        for (int k = 0; k < q; ++k) z += std::exp(a[k] - top);
        const float uu = *u++;
        double cum = 0;
        int pick = q - 1;
        for (int k = 0; k < q - 1; ++k) {
          cum += std::exp(a[k] - top) / z;
          if (std::fabs(cum - uu) < 2e-6) ++ambiguous;
          if (uu < cum) {
            pick = k;
            break;
          }
        }
        for (int k = 0; k < q; ++k) a[k] = k == pick ? 1.0 : 0.0;
      }
    } else if (!gauss)
      for (int i = 0; i < B * nv; ++i) vs[i] = draw(vs[i], *u++);
    else if (c.visible_sample)
      for (int i = 0; i < B * nv; ++i) vs[i] += m.sigma[i % nv] * *u++;
    if (step == 0)
      for (int i = 0; i < B * nv; ++i) err += (v0[i] - vs[i]) * (v0[i] - vs[i]) / (double(B) * nv);
    ss = view(vs);
    hidden(ss, hp);
    u = draws + lay.h(step);
    for (int i = 0; i < B * nh; ++i) hs[i] = draw_hidden(hp, i, *u++);
  }
  if (c.pcd) std::copy(hs.begin(), hs.end(), m.chain.begin());
  if (learn_sigma) sigma_terms(vs, hp, -1.0);
  const double scale = c.sum_weight_gradient ? c.lr : c.lr / B;
  for (int i = 0; i < nv; ++i)
    for (int j = 0; j < nh; ++j) {
      double g = 0;
      for (int r = 0; r < B; ++r) g += s0[r * nv + i] * h0p[r * nh + j] - ss[r * nv + i] * hp[r * nh + j];
      double& vel = m.vel_w[i * nh + j];
      vel = c.momentum * vel + scale * g - c.lr * c.weight_decay * m.w[i * nh + j];
      m.w[i * nh + j] += vel;
    }
  for (int i = 0; i < nv; ++i) {
    double g = 0;
    for (int r = 0; r < B; ++r) g += v0[r * nv + i] - vs[r * nv + i];
    if (gauss) g /= m.sigma[i] * m.sigma[i];  // -dE/dvb_i = (v_i - vb_i) / sigma_i^2
    m.vel_vb[i] = c.momentum * m.vel_vb[i] + c.lr * g / B;
    m.vb[i] += m.vel_vb[i];
    if (learn_sigma) {
      if (m.vel_log_sigma.empty()) m.vel_log_sigma.assign(nv, 0.0);
      // sigma^2 moves by 2 v sigma^2 (the natural-gradient step on the variance), floored
      m.vel_log_sigma[i] = c.momentum * m.vel_log_sigma[i] + c.lr * gz[i] / B;
      m.sigma[i] = std::max(double(c.sigma_floor), m.sigma[i] * std::sqrt(std::max(0.0, 1.0 + 2.0 * m.vel_log_sigma[i])));
    }
  }
  for (int j = 0; j < nh; ++j) {
    double g = 0, q = 0;
    for (int r = 0; r < B; ++r) {
      g += c.hidden_bias_from_states ? h0s[r * nh + j] - hs[r * nh + j] : h0p[r * nh + j] - hp[r * nh + j];
      q += h0p[r * nh + j];
    }
    g /= B;
    if (c.sparsity_cost > 0) g += c.sparsity_cost * (c.sparsity_target - q / B);
    m.vel_hb[j] = c.momentum * m.vel_hb[j] + c.lr * g;
    m.hb[j] += m.vel_hb[j];
  }
  return err;
}

// A reference model starting from p, with zero momentum and no chains.
inline ref_model ref_from(const rbm::model_params& p) {
  return {p.nv, p.nh, {p.w.begin(), p.w.end()}, {p.vb.begin(), p.vb.end()}, {p.hb.begin(), p.hb.end()},
          std::vector<double>(p.w.size()), std::vector<double>(p.vb.size()), std::vector<double>(p.hb.size()), {},
          {p.sigma.begin(), p.sigma.end()}};
}

}  // namespace rbm_test
