// Evaluation tools against independent brute force: exact log Z, log-likelihood, pseudo-log-likelihood,
// and AIS within its confidence interval and 0.5 nats of the exact value.
#include <gtest/gtest.h>

#include <cstdio>

#include <cmath>
#include <random>

#include "helpers.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/thread_team.hpp"

namespace {

using rbm_test::random_model;

// log sum over every (v, h) of exp(-E): independent of the code under test.
double brute_log_z(const rbm::model_params& p) {
  std::vector<double> terms;
  for (unsigned a = 0; a < (1u << p.nv); ++a)
    for (unsigned b = 0; b < (1u << p.nh); ++b) {
      double e = 0;
      for (int i = 0; i < p.nv; ++i) e += ((a >> i) & 1) * p.vb[i];
      for (int j = 0; j < p.nh; ++j) e += ((b >> j) & 1) * p.hb[j];
      for (int i = 0; i < p.nv; ++i)
        for (int j = 0; j < p.nh; ++j) e += ((a >> i) & 1) * ((b >> j) & 1) * p.w[i * p.nh + j];
      terms.push_back(e);
    }
  double m = terms[0];
  for (double t : terms) m = std::max(m, t);
  double s = 0;
  for (double t : terms) s += std::exp(t - m);
  return m + std::log(s);
}

TEST(Evaluation, ExactLogZMatchesBruteForceOverEitherLayer) {
  for (auto [nv, nh] : {std::pair{7, 4}, std::pair{4, 7}, std::pair{9, 9}}) {
    const auto p = random_model(nv, nh, 1.0f, 100 + nv * 10 + nh);
    EXPECT_NEAR(rbm::exact_log_z(p), brute_log_z(p), 1e-6 * std::fabs(brute_log_z(p))) << nv << "x" << nh;
    // On a team of 3, the configurations split in three Gray-code ranges.
    rbm::cpu::thread_team team(3);
    EXPECT_NEAR(rbm::exact_log_z(p, 24, &team), brute_log_z(p), 1e-6 * std::fabs(brute_log_z(p))) << nv << "x" << nh;
  }
  EXPECT_THROW(rbm::exact_log_z(random_model(30, 30, 0.1f, 1)), rbm::precondition_error);
}

TEST(Evaluation, ExactLogZOfAWideModelIsTheSameOnATeam) {
  const auto p = random_model(300, 16, 0.3f, 8);  // 65,536 configurations of 300-wide sums
  rbm::cpu::thread_team team(3);
  const double alone = rbm::exact_log_z(p), shared = rbm::exact_log_z(p, 24, &team);
  EXPECT_NEAR(shared, alone, 1e-9 * std::fabs(alone));
  // Against the definition on a few configurations' worth of work: log Z >= log of any one term.
  double zero = 0;  // x = 0: sum_k softplus(vb_k)
  for (float b : p.vb) zero += std::max(double(b), 0.0) + std::log1p(std::exp(-std::fabs(double(b))));
  EXPECT_GT(alone, zero);
}

TEST(Evaluation, LikelihoodsOfAllConfigurationsSumToOne) {
  const auto p = random_model(6, 5, 1.0f, 7);
  const double log_z = rbm::exact_log_z(p);
  double total = 0;
  for (unsigned a = 0; a < 64; ++a) {
    std::vector<float> v(6);
    for (int i = 0; i < 6; ++i) v[i] = float((a >> i) & 1);
    total += std::exp(rbm::mean_log_likelihood(p, v.data(), 1, log_z));
  }
  EXPECT_NEAR(total, 1.0, 1e-6);  // v W is a float32 product
}

TEST(Evaluation, PseudoLikelihoodMatchesItsDefinition) {
  const auto p = random_model(6, 4, 1.0f, 9);
  const double log_z = rbm::exact_log_z(p);
  std::vector<float> v = {1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0};  // two rows
  double ref = 0;
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 6; ++i) {
      // log p(v_i | v_-i) = log p(v) - log(p(v) + p(v with bit i flipped))
      std::vector<float> a(v.begin() + r * 6, v.begin() + r * 6 + 6), b = a;
      b[i] = 1 - b[i];
      const double la = rbm::mean_log_likelihood(p, a.data(), 1, log_z),
                   lb = rbm::mean_log_likelihood(p, b.data(), 1, log_z);
      ref += la - std::log(std::exp(la) + std::exp(lb));
    }
  EXPECT_NEAR(rbm::pseudo_log_likelihood(p, v.data(), 2), ref / 2, 1e-6);
}

// Wider layers (the vectorised sums' full lanes and tails), 7 rows, on the caller and on a team of 3.
TEST(Evaluation, PseudoLikelihoodOfWideLayersOnAnyThreadCount) {
  const int nv = 45, nh = 37, rows = 7;
  const auto p = random_model(nv, nh, 0.7f, 12);
  std::mt19937 gen(5);
  std::vector<float> v(std::size_t(rows) * nv);
  for (float& x : v) x = float(gen() & 1);
  double ref = 0;  // log Z cancels: each term is log p(v) - log(p(v) + p(v'))
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < nv; ++i) {
      std::vector<float> a(v.begin() + r * nv, v.begin() + (r + 1) * nv), b = a;
      b[i] = 1 - b[i];
      const double la = rbm::mean_log_likelihood(p, a.data(), 1, 0.0),
                   lb = rbm::mean_log_likelihood(p, b.data(), 1, 0.0);
      ref += la - std::max(la, lb) - std::log1p(std::exp(-std::fabs(la - lb)));
    }
  rbm::cpu::thread_team team(3);
  const double alone = rbm::pseudo_log_likelihood(p, v.data(), rows),
               shared = rbm::pseudo_log_likelihood(p, v.data(), rows, &team);
  EXPECT_NEAR(alone, ref / rows, 1e-5);  // v W is a float32 product (over 7 rows here, 1 in the reference)
  EXPECT_NEAR(shared, alone, 1e-12);     // the same rows' sums, added in another grouping
}

TEST(Evaluation, AisScheduleIsThePapers) {
  const auto b = rbm::ais_betas(14500);
  ASSERT_EQ(b.size(), 14500u);
  EXPECT_EQ(b.front(), 0.0);
  EXPECT_EQ(b.back(), 1.0);
  EXPECT_EQ(b[500], 0.5);
  EXPECT_EQ(b[4500], 0.9);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

// AIS on the caller alone and on a team of 3 threads (100 runs split 34/33/33), each within its
// interval and 0.5 nats of the exact log Z; the two draw the same uniforms for every run, so they
// agree far more closely than that (a GEMM over fewer rows may round differently and flip a state).
void expect_ais_close(const rbm::model_params& p, const std::vector<float>& base, int steps, const char* what) {
  const double exact = rbm::exact_log_z(p);
  rbm::ais_options o;
  o.runs = 100;
  o.steps = steps;
  o.seed = 5;
  rbm::cpu::thread_team team(3);
  const auto alone = rbm::ais_log_z(p, base, o), shared = rbm::ais_log_z(p, base, o, &team);
  for (const auto& a : {alone, shared}) {
    EXPECT_NEAR(a.log_z, exact, 0.5) << what;
    EXPECT_LE(a.log_z_low, exact + 1e-9) << what << ": exact " << exact << " outside [" << a.log_z_low << ", "
                                         << a.log_z_high << "]";
    EXPECT_GE(a.log_z_high, exact - 1e-9)
        << what << ": exact " << exact << " outside [" << a.log_z_low << ", " << a.log_z_high << "]";
  }
  EXPECT_NEAR(shared.log_z, alone.log_z, 1e-3) << what;
}

TEST(Evaluation, AisAgreesWithExactLogZOnARandom20x20Model) {
  const auto p = random_model(20, 20, 0.5f, 21);
  expect_ais_close(p, std::vector<float>(20, 0.0f), 3000, "random 20x20");
}

// A non-zero base-rate model (the 20x20 test above starts from a zero base, so it cannot tell how the
// base enters: its log Z_A, the first samples, the (1 - beta) bA term of every transition and the
// beta-weighted (vb - bA) term of every weight). Over five seeds, each estimate is within a tight
// bound of the exact log Z (measured: |error| <= 0.037 nats) and inside its 3-sigma interval; a base
// mishandled anywhere moves it by nats (dropping the (1 - beta) bA term: +2.7). The base is far from
// the model's own biases, so the annealing has work to do.
TEST(Evaluation, AisFromANonZeroBaseIsTightOverSeveralSeeds) {
  const auto p = random_model(20, 16, 0.5f, 23);
  const double exact = rbm::exact_log_z(p);
  std::vector<float> base(20);
  for (int i = 0; i < 20; ++i) base[i] = 1.5f * std::sin(1.0f + 2.3f * i);  // in [-1.5, 1.5], no zeros
  double log_z_a = 16 * std::log(2.0);
  for (float b : base) log_z_a += std::log1p(std::exp(double(b)));
  for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    rbm::ais_options o;
    o.runs = 100;
    o.steps = 3000;
    o.seed = seed;
    const auto a = rbm::ais_log_z(p, base, o);
    EXPECT_NEAR(a.log_z_base, log_z_a, 1e-9) << "seed " << seed;
    EXPECT_NEAR(a.log_z, exact, 0.06) << "seed " << seed;
    EXPECT_LE(a.log_z_low, exact) << "seed " << seed;
    EXPECT_GE(a.log_z_high, exact) << "seed " << seed;
  }
}

TEST(Evaluation, AisAgreesWithExactLogZOnATrained784x12Model) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 2000);
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 12;
  c.lr = 0.05f;
  rbm::cpu_backend be(c);
  be.set_params(rbm::init_params(784, 12, d.train.pixels.data(), 2000, 3, false));
  for (int e = 0; e < 2; ++e)
    for (int b = 0; b < 20; ++b) rbm::train_on(be, rbm::rows_view::of(d.train.pixels.data() + std::size_t(b) * 100 * 784, 100, 784));
  const auto v = rbm::binarize(d.train.pixels.data(), d.train.pixels.size());
  expect_ais_close(be.params(), rbm::base_rate_bias(v.data(), 2000, 784), 3000, "trained 784x12");
}

}  // namespace
