// Exact log Z by enumeration: the sum over every configuration of the layer that cannot be integrated
// in closed form (the smaller binary layer; the hidden states beside Gaussian or categorical visible
// units; the visible configurations beside continuous hidden units), split among a thread team.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/units.hpp"

namespace rbm {

namespace {

// log of a sum of exp(term) over many terms, kept as a running log-sum-exp folded every 2^20 terms to
// bound memory.
class log_sum_folder {
 public:
  explicit log_sum_folder(std::uint64_t expected) { terms_.reserve(std::min<std::uint64_t>(expected, fold) + 1); }
  void add(double term) {
    terms_.push_back(term);
    if (terms_.size() == fold) {
      terms_.push_back(running_);
      running_ = log_sum_exp(terms_);
      terms_.clear();
    }
  }
  double result() {
    terms_.push_back(running_);
    return log_sum_exp(terms_);
  }

 private:
  static constexpr std::size_t fold = std::size_t(1) << 20;
  std::vector<double> terms_;
  double running_ = -std::numeric_limits<double>::infinity();
};

// W's columns [nh, nv], each hidden unit's weights contiguous.
std::vector<double> w_columns(const model_params& p) {
  std::vector<double> wm(std::size_t(p.nh) * p.nv);
  for (int j = 0; j < p.nh; ++j)
    for (int i = 0; i < p.nv; ++i) wm[std::size_t(j) * p.nv + i] = p.w[std::size_t(i) * p.nh + j];
  return wm;
}

// log of the sum over the 2^m configurations c of m binary units of exp(term(lin, acc)), where
// lin = bias.c and acc [n] = start + the rows [m, n] (contiguous) of the units that are on. Gray-code
// order changes one unit per configuration, so each costs one row update; the configurations split in
// contiguous ranges among the team, each part starting from its first configuration's code and
// log-sum-exping its own terms.
template <class Term>
double gray_code_log_sum(int m, int n, const std::vector<float>& bias, const std::vector<double>& rows,
                         const std::vector<double>& start, cpu::thread_team* team, Term term) {
  const std::uint64_t count = std::uint64_t(1) << m;
  const int parts = team != nullptr ? int(std::min<std::uint64_t>(team->size(), count)) : 1;
  std::vector<double> part_sums(parts);
  cpu::run_parts(team, parts, [&](int t) {
    const auto [i0, i1] = cpu::split(count, parts, t);
    std::uint64_t gray = i0 ^ (i0 >> 1);
    std::vector<double> acc = start;
    double lin = 0;
    for (int u = 0; u < m; ++u)
      if ((gray >> u) & 1) {
        lin += bias[u];
        for (int k = 0; k < n; ++k) acc[k] += rows[std::size_t(u) * n + k];
      }
    log_sum_folder sum(i1 - i0);
    for (std::uint64_t i = i0; i < i1; ++i) {
      if (i > i0) {
        const int bit = __builtin_ctzll(i);
        const double sign = ((gray >> bit) & 1) ? -1.0 : 1.0;
        gray ^= std::uint64_t(1) << bit;
        lin += sign * bias[bit];
        const double* row = rows.data() + std::size_t(bit) * n;
        for (int k = 0; k < n; ++k) acc[k] += sign * row[k];
      }
      sum.add(term(lin, acc.data()));
    }
    part_sums[t] = sum.result();
  });
  return log_sum_exp(part_sums);
}

// Gaussian visible units cannot be enumerated: sum over the 2^nh hidden states h of
// exp(hb.h) prod_i integral exp(-(v_i - vb_i)^2 / (2 sigma_i^2) + v_i x_i / sigma_i) dv_i, x = W h,
// each integral in closed form (gaussian_units::log_integral).
double exact_log_z_gaussian(const model_params& p, int max_units, cpu::thread_team* team) {
  if (p.nh > max_units)
    throw precondition_error("exact log Z of Gaussian visible units needs at most " + std::to_string(max_units) +
                             " hidden units; this model has " + std::to_string(p.nh));
  const int m = p.nh, n = p.nv;
  return gray_code_log_sum(m, n, p.hb, w_columns(p), std::vector<double>(n, 0.0), team, [&](double lin, const double* x) {
    double t = lin;
    for (int i = 0; i < n; ++i) t += gaussian_units::log_integral(p.vb[i], p.sigma[i], x[i]);
    return t;
  });
}

// Categorical visible units: the hidden states enumerated, each site's states summed out in closed
// form (log sum over q of exp(vb + W h) at that site: softmax_units::mean's log-sum-exp).
double exact_log_z_categorical(const model_params& p, int max_units, cpu::thread_team* team) {
  if (p.nh > max_units)
    throw precondition_error("exact log Z of categorical visible units needs at most " + std::to_string(max_units) +
                             " hidden units; this model has " + std::to_string(p.nh));
  const int m = p.nh, n = p.nv, q = p.states, sites = p.sites();
  return gray_code_log_sum(m, n, p.hb, w_columns(p), std::vector<double>(p.vb.begin(), p.vb.end()), team,
                           [q, sites](double lin, const double* pre) {
                             thread_local std::vector<double> prob;  // each of the team's threads its own
                             prob.resize(static_cast<std::size_t>(q));
                             double t = lin;
                             for (int s = 0; s < sites; ++s) t += softmax_units::mean(pre + std::size_t(s) * q, q, prob.data());
                             return t;
                           });
}

// log of the sum over the q^sites configurations of `sites` categorical variables of
// exp(lin + L(acc)), lin = the sum of each site's bias at its state, acc [n] = start + the rows (site s
// in state x: row s q + x of `rows` [sites q, n]) of the states taken. Mixed-radix counting, each part
// of the team from its own first configuration; a step changes the sites that carry, one row each.
template <class Term>
double odometer_log_sum(int sites, int q, int n, const std::vector<float>& bias, const std::vector<double>& rows,
                        const std::vector<double>& start, cpu::thread_team* team, Term term) {
  std::uint64_t count = 1;
  for (int s = 0; s < sites; ++s) count *= std::uint64_t(q);
  const int parts = team != nullptr ? int(std::min<std::uint64_t>(team->size(), count)) : 1;
  std::vector<double> part_sums(parts);
  cpu::run_parts(team, parts, [&](int t) {
    const auto [i0, i1] = cpu::split(count, parts, t);
    std::vector<int> x(sites);
    std::vector<double> acc = start;
    double lin = 0;
    auto take = [&](int s, int state, double sign) {
      const std::size_t u = std::size_t(s) * q + state;
      lin += sign * bias[u];
      for (int k = 0; k < n; ++k) acc[k] += sign * rows[u * n + k];
    };
    std::uint64_t digits = i0;  // configuration i0's digits, site 0 fastest
    for (int s = 0; s < sites; ++s, digits /= std::uint64_t(q)) {
      x[s] = int(digits % std::uint64_t(q));
      take(s, x[s], 1.0);
    }
    log_sum_folder sum(i1 - i0);
    for (std::uint64_t i = i0; i < i1; ++i) {
      sum.add(lin + term(acc.data()));
      for (int s = 0; s < sites; ++s) {  // the next configuration
        take(s, x[s], -1.0);
        x[s] = (x[s] + 1) % q;
        take(s, x[s], 1.0);
        if (x[s] != 0) break;
      }
    }
    part_sums[t] = sum.result();
  });
  return log_sum_exp(part_sums);
}

// Continuous hidden units (Gaussian, ReLU) cannot be enumerated: sum over the visible configurations
// (2^nv Bernoulli, Q^sites categorical) of exp(v.vb) prod_j of the unit's integral at hb_j + (v W)_j
// (hidden_log_integral, closed form).
double exact_log_z_over_visible(const model_params& p, int max_units, cpu::thread_team* team) {
  const int sites = p.sites(), q = p.categorical() ? p.states : 2;
  const double configurations = std::pow(double(q), double(sites));
  if (p.gaussian() || configurations > std::ldexp(1.0, max_units))
    throw precondition_error(std::string("exact log Z of ") + to_string(p.hidden) + " hidden units sums over the " +
                             (p.gaussian() ? "visible states, which Gaussian visible units do not have"
                                           : "visible configurations: at most 2^" + std::to_string(max_units) +
                                                 " of them; this model has " + std::to_string(q) + "^" +
                                                 std::to_string(sites)));
  std::vector<double> rows(p.w.begin(), p.w.end());  // W [nv, nh]: row u is visible unit u's weights
  const std::vector<double> start(p.hb.begin(), p.hb.end());
  auto term = [&p](const double* x) { return cpu::hidden_log_integral_sum(p.hidden, x, p.nh); };
  if (p.categorical()) return odometer_log_sum(sites, q, p.nh, p.vb, rows, start, team, term);
  return gray_code_log_sum(p.nv, p.nh, p.vb, rows, start, team,
                           [&term](double lin, const double* x) { return lin + term(x); });
}

}  // namespace

double exact_log_z_bits(const model_params& p) {
  if (p.hidden == unit_kind::bernoulli) return p.gaussian() || p.categorical() ? p.nh : std::min(p.nv, p.nh);
  if (p.gaussian()) return std::numeric_limits<double>::infinity();
  return p.categorical() ? p.sites() * std::log2(double(p.states)) : p.nv;
}

double exact_log_z(const model_params& p, int max_units, cpu::thread_team* team) {
  if (p.hidden != unit_kind::bernoulli) return exact_log_z_over_visible(p, max_units, team);
  if (p.gaussian()) return exact_log_z_gaussian(p, max_units, team);
  if (p.categorical()) return exact_log_z_categorical(p, max_units, team);
  const bool over_hidden = p.nh <= p.nv;
  const int m = over_hidden ? p.nh : p.nv;  // the layer enumerated
  if (m > max_units)
    throw precondition_error("exact log Z needs a layer of at most " + std::to_string(max_units) +
                             " units; this model is " + std::to_string(p.nv) + "x" + std::to_string(p.nh));
  const int n = over_hidden ? p.nv : p.nh;
  const std::vector<float>& bias_m = over_hidden ? p.hb : p.vb;
  const std::vector<float>& bias_n = over_hidden ? p.vb : p.hb;
  // Sum over configurations x of the small layer: x.b_m + sum_k softplus(b_n[k] + (W x)_k); `wm` holds
  // W's entries joining one unit of the enumerated layer to the other layer, contiguous.
  std::vector<double> wm(std::size_t(m) * n);
  for (int u = 0; u < m; ++u)
    for (int k = 0; k < n; ++k)
      wm[std::size_t(u) * n + k] = over_hidden ? p.w[std::size_t(k) * p.nh + u] : p.w[std::size_t(u) * p.nh + k];
  return gray_code_log_sum(m, n, bias_m, wm, std::vector<double>(bias_n.begin(), bias_n.end()), team,
                           [n](double lin, const double* pre) { return lin + cpu::softplus_sum(pre, n); });
}

}  // namespace rbm
