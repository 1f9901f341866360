// Gaussian visible units (rbm/units.hpp) against definitions computed here in double precision:
// the free energy against -log sum_h exp(-E(v, h)), and the exact log Z (hidden states enumerated,
// visible units integrated out in closed form) against numerical integration of exp(-F(v)).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/thread_team.hpp"

namespace {

rbm::model_params random_gaussian_model(int nv, int nh, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.5f);
  std::uniform_real_distribution<float> s(0.5f, 1.5f);
  rbm::model_params p(nv, nh, rbm::unit_kind::gaussian);
  for (auto& x : p.w) x = d(rng);
  for (auto& x : p.vb) x = d(rng);
  for (auto& x : p.hb) x = d(rng);
  for (auto& x : p.sigma) x = s(rng);
  return p;
}

// E(v, h) of the Gaussian-Bernoulli RBM, straight from its definition.
double energy(const rbm::model_params& p, const std::vector<double>& v, int h) {
  double e = 0;
  for (int i = 0; i < p.nv; ++i) e += (v[i] - p.vb[i]) * (v[i] - p.vb[i]) / (2.0 * p.sigma[i] * p.sigma[i]);
  for (int j = 0; j < p.nh; ++j) {
    if (!((h >> j) & 1)) continue;
    e -= p.hb[j];
    for (int i = 0; i < p.nv; ++i) e -= v[i] / p.sigma[i] * p.w[std::size_t(i) * p.nh + j];
  }
  return e;
}

double free_energy_by_definition(const rbm::model_params& p, const std::vector<double>& v) {
  double s = 0;
  for (int h = 0; h < (1 << p.nh); ++h) s += std::exp(-energy(p, v, h));
  return -std::log(s);
}

// The unit kinds' names live in one table (rbm/units.hpp): each parses back to its kind, anything else
// is refused (no two-way ternary turning an unknown name into Bernoulli units), and messages list them.
TEST(UnitKinds, EachNameParsesBackAndOthersAreRefused) {
  for (const auto& n : rbm::unit_kind_names)
    for (const auto side : {rbm::layer_side::visible, rbm::layer_side::hidden}) {
      rbm::unit_kind k = n.kind == rbm::unit_kind::bernoulli ? rbm::unit_kind::gaussian : rbm::unit_kind::bernoulli;
      const rbm::unit_kind before = k;
      // Each kind parses on the layers it may form, and is refused (untouched) on the others.
      EXPECT_EQ(rbm::parse_unit_kind(rbm::to_string(n.kind), k, side), rbm::allowed_on(n, side)) << n.name;
      EXPECT_EQ(k, rbm::allowed_on(n, side) ? n.kind : before) << n.name;
    }
  rbm::unit_kind k = rbm::unit_kind::gaussian;
  for (const char* other : {"poisson", "Gaussian", "", "bernoulli "}) {
    EXPECT_FALSE(rbm::parse_unit_kind(other, k)) << other;
    EXPECT_EQ(k, rbm::unit_kind::gaussian) << "untouched";
  }
  EXPECT_EQ(rbm::unit_kind_list(), "bernoulli, gaussian or categorical");
  EXPECT_EQ(rbm::unit_kind_list(rbm::layer_side::hidden), "bernoulli, gaussian or relu");
}

TEST(GaussianUnits, FreeEnergyMatchesItsDefinition) {
  const auto p = random_gaussian_model(7, 5, 3);
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.0f, 2.0f);
  const int rows = 9;
  std::vector<float> v(std::size_t(rows) * p.nv);
  for (auto& x : v) x = d(rng);
  std::vector<double> f(rows);
  rbm::cpu_free_energy(p, v.data(), rows, f.data());
  for (int r = 0; r < rows; ++r) {
    const std::vector<double> vr(v.begin() + r * p.nv, v.begin() + (r + 1) * p.nv);
    EXPECT_NEAR(f[r], free_energy_by_definition(p, vr), 1e-5 * std::max(1.0, std::fabs(f[r]))) << "row " << r;
  }
}

// Two visible units, so exp(-F(v)) can be integrated on a grid (midpoint rule, step 0.02 over
// [-12, 12]^2: the integrand is smooth and vanishes far inside the box).
TEST(GaussianUnits, ExactLogZMatchesNumericalIntegration) {
  const auto p = random_gaussian_model(2, 3, 11);
  const double h = 0.02;
  double z = 0;
  std::vector<double> v(2);
  for (double a = -12 + h / 2; a < 12; a += h)
    for (double b = -12 + h / 2; b < 12; b += h) {
      v[0] = a, v[1] = b;
      double s = 0;
      for (int c = 0; c < (1 << p.nh); ++c) s += std::exp(-energy(p, v, c));
      z += s * h * h;
    }
  EXPECT_NEAR(rbm::exact_log_z(p), std::log(z), 1e-6);
}

// Wider: per hidden state, each visible unit's integral done numerically (1-D) and multiplied; the
// team's Gray-code ranges give the same sum as the caller alone.
TEST(GaussianUnits, ExactLogZOverHiddenStatesOnATeam) {
  const auto p = random_gaussian_model(6, 7, 12);
  std::vector<double> terms;
  for (int c = 0; c < (1 << p.nh); ++c) {
    double t = 0;
    for (int j = 0; j < p.nh; ++j) t += ((c >> j) & 1) * double(p.hb[j]);
    for (int i = 0; i < p.nv; ++i) {
      double x = 0;
      for (int j = 0; j < p.nh; ++j) x += ((c >> j) & 1) * double(p.w[std::size_t(i) * p.nh + j]);
      double integral = 0;
      const double step = 0.002;
      for (double u = -30 + step / 2; u < 30; u += step) {
        const double d = (u - p.vb[i]) / p.sigma[i];
        integral += std::exp(-0.5 * d * d + u * x / p.sigma[i]) * step;
      }
      t += std::log(integral);
    }
    terms.push_back(t);
  }
  double top = terms[0];
  for (double t : terms) top = std::max(top, t);
  double s = 0;
  for (double t : terms) s += std::exp(t - top);
  const double ref = top + std::log(s);
  rbm::cpu::thread_team team(3);
  EXPECT_NEAR(rbm::exact_log_z(p), ref, 1e-7 * std::fabs(ref));
  EXPECT_NEAR(rbm::exact_log_z(p, 24, &team), rbm::exact_log_z(p), 1e-9);
  EXPECT_THROW(rbm::exact_log_z(p, 6), rbm::precondition_error);  // 7 hidden units: too many
}

// AIS from a base of independent Gaussians away from the model (means shifted by 1, standard
// deviations 1.5 times the model's), so every term of the weights and transitions matters: within
// its 3-sigma interval of the exact log Z and close to it over several seeds, on one thread and on a
// team (the same draws for each run, so nearly the same estimate).
TEST(GaussianUnits, AisAgreesWithTheExactLogZ) {
  const auto p = random_gaussian_model(10, 12, 21);
  const double exact = rbm::exact_log_z(p);
  rbm::cpu::thread_team team(3);
  std::vector<float> base_mean = p.vb, base_sd = p.sigma;
  for (auto& x : base_mean) x += 1.0f;
  for (auto& x : base_sd) x *= 1.5f;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    rbm::ais_options o;
    o.runs = 100;
    o.steps = 3000;
    o.seed = seed;
    const auto a = rbm::ais_log_z_gaussian(p, base_mean, base_sd, o),
               b = rbm::ais_log_z_gaussian(p, base_mean, base_sd, o, &team);
    double log_z_a = 12 * std::log(2.0);
    for (float x : base_sd) log_z_a += std::log(std::sqrt(2 * M_PI) * x);
    EXPECT_NEAR(a.log_z_base, log_z_a, 1e-9);
    EXPECT_NEAR(a.log_z, exact, 0.1) << "seed " << seed;
    EXPECT_LE(a.log_z_low, exact) << "seed " << seed;
    EXPECT_GE(a.log_z_high, exact) << "seed " << seed;
    EXPECT_NEAR(b.log_z, a.log_z, 1e-3) << "seed " << seed;
  }
}

}  // namespace
