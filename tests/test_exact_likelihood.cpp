// A tiny RBM whose partition function can be enumerated: free energy against its definition, and CD
// training that raises the exact log-likelihood of its data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "rbm/host/cpu_backend.hpp"

namespace {

double energy(const rbm::model_params& p, const std::vector<int>& v, const std::vector<int>& h) {
  double e = 0;
  for (int i = 0; i < p.nv; ++i) e -= v[i] * p.vb[i];
  for (int j = 0; j < p.nh; ++j) e -= h[j] * p.hb[j];
  for (int i = 0; i < p.nv; ++i)
    for (int j = 0; j < p.nh; ++j) e -= v[i] * h[j] * p.w[i * p.nh + j];
  return e;
}

std::vector<int> bits(unsigned x, int n) {
  std::vector<int> b(n);
  for (int i = 0; i < n; ++i) b[i] = (x >> i) & 1;
  return b;
}

// log Z by summing exp(-E) over every (v, h) pair: independent of the free-energy code.
double brute_log_z(const rbm::model_params& p) {
  double z = 0;
  for (unsigned a = 0; a < (1u << p.nv); ++a)
    for (unsigned b = 0; b < (1u << p.nh); ++b) z += std::exp(-energy(p, bits(a, p.nv), bits(b, p.nh)));
  return std::log(z);
}

double mean_log_likelihood(const rbm::model_params& p, const std::vector<std::uint8_t>& data, int rows) {
  const double log_z = brute_log_z(p);
  std::vector<float> v(data.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(data[i]);
  std::vector<double> f(rows);
  rbm::cpu_free_energy(p, v.data(), rows, f.data());
  double ll = 0;
  for (double x : f) ll += -x - log_z;
  return ll / rows;
}

TEST(ExactLikelihood, FreeEnergyMatchesItsDefinition) {
  rbm::model_params p(6, 4);
  for (std::size_t i = 0; i < p.w.size(); ++i) p.w[i] = float(std::sin(1.7 * i) * 1.3);
  for (int i = 0; i < 6; ++i) p.vb[i] = float(std::cos(0.9 * i));
  for (int j = 0; j < 4; ++j) p.hb[j] = float(0.4 * j - 0.7);
  for (unsigned a = 0; a < 64; ++a) {
    const auto v = bits(a, 6);
    double z = 0;
    for (unsigned b = 0; b < 16; ++b) z += std::exp(-energy(p, v, bits(b, 4)));
    const std::vector<float> vf(v.begin(), v.end());
    double f = 0;
    rbm::cpu_free_energy(p, vf.data(), 1, &f);
    EXPECT_NEAR(f, -std::log(z), 1e-5) << "v = " << a;  // F(v) = -log sum_h exp(-E(v, h))
  }
}

TEST(ExactLikelihood, CdTrainingRaisesTheExactLogLikelihood) {
  // Two prototypes with one flipped bit each: a distribution with structure for 4 hidden units to learn.
  const std::vector<std::vector<int>> protos = {{1, 1, 1, 0, 0, 0}, {0, 0, 1, 1, 1, 1}};
  std::vector<std::uint8_t> data;
  int rows = 0;
  for (const auto& pr : protos)
    for (int flip = -1; flip < 6; ++flip) {
      for (int i = 0; i < 6; ++i) data.push_back(((i == flip) ^ pr[i]) ? 255 : 0);
      ++rows;
    }
  rbm::cd_config c;
  c.nv = 6;
  c.nh = 4;
  c.k = 1;
  c.lr = 0.2f;
  c.momentum = 0.5f;
  c.weight_decay = 0.0f;
  c.seed = 11;
  rbm::cpu_backend be(c);
  be.set_params(rbm::init_params(6, 4, data.data(), rows, 3, false));
  const double before = mean_log_likelihood(be.params(), data, rows);
  std::vector<int> all(rows);
  for (int r = 0; r < rows; ++r) all[r] = r;
  be.attach(rbm::rows_view::of(data.data(), rows, 6));
  for (int epoch = 0; epoch < 2000; ++epoch) be.step(all.data(), rows);
  const double after = mean_log_likelihood(be.params(), data, rows);
  // The uniform model scores 6 log(1/2) = -4.16; the data's own entropy bound is log(1/14) = -2.64.
  EXPECT_GT(after, before + 0.5) << "before " << before << " after " << after;
  std::printf("exact mean log-likelihood: %.4f -> %.4f\n", before, after);
  EXPECT_LT(after, -std::log(14.0) + 1e-9);
}

}  // namespace
