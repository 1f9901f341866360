// The AIS schedule and the summary of the importance weights (host code shared by both backends).
#include "rbm/ais.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rbm/error.hpp"

namespace rbm {

std::vector<double> ais_betas(int steps) {
  RBM_EXPECTS(steps >= 2);
  // Proportions of the paper's 14,500-step schedule: 500 / 4000 / 10000 over [0, .5) [.5, .9) [.9, 1].
  const int a = std::max(1, int(std::lround(steps * 500.0 / 14500)));
  const int b = std::max(1, int(std::lround(steps * 4000.0 / 14500)));
  const int c = steps - a - b;
  RBM_EXPECTS(c >= 2);
  std::vector<double> beta;
  for (int i = 0; i < a; ++i) beta.push_back(0.5 * i / a);
  for (int i = 0; i < b; ++i) beta.push_back(0.5 + 0.4 * i / b);
  for (int i = 0; i < c; ++i) beta.push_back(0.9 + 0.1 * i / (c - 1));
  return beta;
}

ais_result ais_summarise(const std::vector<double>& logw, const std::vector<float>& base_vb, int nh, int steps) {
  double log_z_base = nh * std::log(2.0);
  for (float b : base_vb) log_z_base += std::max(double(b), 0.0) + std::log1p(std::exp(-std::fabs(double(b))));
  return ais_summarise(logw, log_z_base, steps);
}

ais_result ais_summarise(const std::vector<double>& logw, const std::vector<float>& base_vb, int nh, int steps,
                         unit_kind hidden) {
  if (hidden == unit_kind::bernoulli) return ais_summarise(logw, base_vb, nh, steps);
  double log_z_base = nh * hidden_log_integral(hidden, 0.0);
  for (float b : base_vb) log_z_base += hidden_log_integral(unit_kind::bernoulli, b);  // log(1 + e^b)
  return ais_summarise(logw, log_z_base, steps);
}

ais_result ais_summarise(const std::vector<double>& logw, double log_z_base, int steps) {
  RBM_EXPECTS(!logw.empty());
  const int n = int(logw.size());
  ais_result res;
  res.runs = n;
  res.steps = steps;
  res.log_z_base = log_z_base;
  // log mean w and its +-3 standard errors, computed relative to the largest weight for stability.
  const double m = *std::max_element(logw.begin(), logw.end());
  double mean = 0, sq = 0;
  for (double lw : logw) mean += std::exp(lw - m);
  mean /= n;
  for (double lw : logw) sq += std::pow(std::exp(lw - m) - mean, 2);
  const double se = n > 1 ? std::sqrt(sq / (n - 1) / n) : 0.0;
  res.log_z = res.log_z_base + m + std::log(mean);
  res.log_z_high = res.log_z_base + m + std::log(mean + 3 * se);
  res.log_z_low = mean - 3 * se > 0 ? res.log_z_base + m + std::log(mean - 3 * se)
                                    : -std::numeric_limits<double>::infinity();
  return res;
}

}  // namespace rbm
