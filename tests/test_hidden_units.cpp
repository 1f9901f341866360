// Gaussian and ReLU hidden units: the normal tail and quantiles against long-double erfc, each kind's
// mean, draw and log integral against numerical integration of its density, the CD step against the
// naive double reference, exact log Z against enumeration with numerically integrated hidden units,
// AIS against exact, the pseudo-likelihood against flipped free energies, and CD training that learns.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/normal.hpp"
#include "rbm/units.hpp"
#include "reference_cd.hpp"

namespace {

using rbm::unit_kind;
constexpr unit_kind continuous[] = {unit_kind::gaussian, unit_kind::relu};

TEST(NormalTail, LogUpperTailMatchesLongDoubleErfcEverywhere) {
  for (double z = -37.0; z <= 60.0; z += 0.37) {
    const long double q = rbm_test::upper_tail(z);
    const double want = double(std::log(q));
    EXPECT_NEAR(rbm::log_upper_tail(z), want, 2e-14 * std::max(1.0, std::fabs(want))) << "z = " << z;
    EXPECT_NEAR(rbm::log_scaled_upper_tail(z), double(std::log(q) + 0.5L * z * z),
                2e-14 * std::max(1.0, 0.5 * z * z)) << "z = " << z;
  }
  // Both sides of the switch to the asymptotic series agree.
  EXPECT_NEAR(rbm::log_scaled_upper_tail(25.0 - 1e-12), rbm::log_scaled_upper_tail(25.0), 1e-13);
}

TEST(NormalTail, QuantilesInvertTheTailToDoublePrecision) {
  for (double lp : {-1e4, -1000.0, -50.0, -5.0, -0.7, -0.1, -1e-5, -1e-20}) {
    const double z = rbm::upper_quantile_log(lp);
    EXPECT_NEAR(double(std::log(rbm_test::upper_tail(z))), lp, 1e-12 * std::max(1.0, std::fabs(lp))) << lp;
  }
  for (double p : {1e-300, 1e-10, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-10}) {
    const double z = rbm::normal_quantile(p);
    const long double phi = rbm_test::upper_tail(-z);  // Phi(z) = Q(-z)
    EXPECT_NEAR(double(phi / p), 1.0, 1e-12) << "p = " << p;
  }
  EXPECT_EQ(rbm::normal_quantile(0.5), 0.0);
  EXPECT_TRUE(std::isfinite(rbm::normal_quantile(1.0)));  // a float uniform's largest value
  // The truncated normal: Q(z) = u Q(a), z >= a; u = 1 gives a.
  for (double a : {-30.0, -2.0, 0.0, 1.5, 40.0})
    for (double u : {1e-30, 0.1, 0.5, 0.999, 1.0}) {
      const double z = rbm::truncated_normal_above(a, float(u));
      ASSERT_GE(z, a);
      const long double ratio = rbm_test::upper_tail(z) / rbm_test::upper_tail(a);
      EXPECT_NEAR(double(ratio), double(float(u)), 1e-9 * double(float(u))) << "a " << a << ", u " << u;
    }
}

TEST(HiddenUnits, MeanVarianceAndLogIntegralMatchNumericalIntegration) {
  for (unit_kind k : continuous)
    for (double x : {-40.0, -8.0, -1.0, 0.0, 0.7, 4.0, 30.0}) {
      const rbm_test::integral want = rbm_test::integrate(k, x);
      EXPECT_NEAR(rbm::hidden_log_integral(k, x), want.log_z, 1e-9 * std::max(1.0, std::fabs(want.log_z)))
          << rbm::to_string(k) << " x = " << x;
      EXPECT_NEAR(rbm::hidden_mean(k, x), want.mean, 1e-8 * std::max(1.0, std::fabs(want.mean)))
          << rbm::to_string(k) << " x = " << x;
      // The variance, which is also the mean's slope (fine-tuning backpropagates through it).
      EXPECT_NEAR(rbm::hidden_variance(k, x), want.variance, 1e-7 * want.variance + 1e-10)
          << rbm::to_string(k) << " x = " << x;
      const double h = 1e-4 * std::max(1.0, std::fabs(x));
      EXPECT_NEAR(rbm::hidden_variance(k, x), (rbm::hidden_mean(k, x + h) - rbm::hidden_mean(k, x - h)) / (2 * h),
                  1e-6 * want.variance + 1e-9)
          << rbm::to_string(k) << " x = " << x;
    }
  // Bernoulli units: sigmoid, its slope and softplus.
  EXPECT_NEAR(rbm::hidden_log_integral(unit_kind::bernoulli, 0.3), std::log1p(std::exp(0.3)), 1e-15);
  EXPECT_NEAR(rbm::hidden_mean(unit_kind::bernoulli, 0.3), 1 / (1 + std::exp(-0.3)), 1e-7);
  const double s = 1 / (1 + std::exp(-0.3));
  EXPECT_NEAR(rbm::hidden_variance(unit_kind::bernoulli, 0.3), s * (1 - s), 1e-7);
}

TEST(HiddenUnits, DrawsFromAGridOfUniformsHaveTheUnitsMean) {
  // The draw inverts the CDF: over the midpoints of n equal slices of (0, 1) its average is the mean
  // (up to the slices' error in the tails, ~1/n).
  const int n = 20000;
  for (unit_kind k : continuous)
    for (double x : {-30.0, -3.0, 0.0, 2.0, 25.0}) {
      double sum = 0, last = 1e300;
      for (int i = 0; i < n; ++i) {
        const double h = rbm::hidden_sample(k, x, float((i + 0.5) / n));
        if (k == unit_kind::relu) ASSERT_GE(h, 0.0);
        ASSERT_LE(h, last) << "not decreasing in u (the upper tail inverted)";
        last = h;
        sum += h;
      }
      EXPECT_NEAR(sum / n, rbm::hidden_mean(k, x), 2e-3 * std::max(1.0, std::fabs(x))) << rbm::to_string(k) << " " << x;
    }
  EXPECT_NEAR(rbm::hidden_sample(unit_kind::gaussian, 1.25, 0.5f), 1.25, 1e-12);
}

rbm::model_params random_hidden(int nv, int nh, unit_kind k, float scale, unsigned seed) {
  rbm::model_params p = rbm_test::random_model(nv, nh, scale, seed);
  p.hidden = k;
  return p;
}

TEST(HiddenUnits, CdStepMatchesTheNaiveDoubleReference) {
  const int nv = 9, nh = 5, rows = 6;
  for (unit_kind k : continuous)
    for (bool pcd : {false, true}) {
      rbm::cd_config c;
      c.nv = nv;
      c.nh = nh;
      c.k = pcd ? 1 : 2;
      c.pcd = pcd;
      c.lr = 0.05f;
      c.hidden = k;
      rbm::model_params p = random_hidden(nv, nh, k, 0.5f, 4);
      rbm_test::ref_model m = rbm_test::ref_from(p);
      m.hidden = k;
      std::mt19937 rng(7);
      rbm::cd_state st;
      rbm::cd_workspace ws;
      rbm::cpu::philox_stream gen(11);
      int ambiguous = 0;
      for (int batch = 0; batch < 3; ++batch) {
        std::vector<float> v0(std::size_t(rows) * nv);
        for (auto& x : v0) x = float(rng() % 2);
        std::vector<float> draws(rbm::make_draw_layout(rows, c).total());
        EXPECT_EQ(draws.size(), rbm::cd_uniform_count(rows, nv, nh, c.k));  // one uniform per hidden unit
        gen.uniform(draws.data(), draws.size());
        const float err = rbm::cpu_cd_step(p, st, v0.data(), rows, draws.data(), c, ws);
        const double ref = rbm_test::ref_cd_step(m, std::vector<double>(v0.begin(), v0.end()), rows, draws.data(), c,
                                                 ambiguous);
        EXPECT_NEAR(err, ref, 1e-6) << rbm::to_string(k);
      }
      ASSERT_EQ(ambiguous, 0);
      for (std::size_t i = 0; i < p.w.size(); ++i) ASSERT_NEAR(p.w[i], m.w[i], 2e-5) << rbm::to_string(k) << " W[" << i << "]";
      for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], m.vb[i], 2e-5) << rbm::to_string(k);
      for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], m.hb[j], 2e-5) << rbm::to_string(k);
      if (pcd)
        for (std::size_t i = 0; i < m.chain.size(); ++i) ASSERT_NEAR(st.chain_h[i], m.chain[i], 1e-4) << rbm::to_string(k);
    }
}

// log Z by brute force: every visible configuration (binary, or one-hot sites of q states), each
// hidden unit's integral by numerical quadrature.
double brute_log_z(const rbm::model_params& p) {
  const int q = p.categorical() ? p.states : 2, sites = p.sites();
  std::vector<int> x(sites, 0);
  std::vector<double> terms;
  for (;;) {
    std::vector<float> v(p.nv, 0.0f);
    for (int s = 0; s < sites; ++s)
      if (p.categorical()) v[s * q + x[s]] = 1.0f;
      else v[s] = float(x[s]);
    double t = 0;
    for (int i = 0; i < p.nv; ++i) t += v[i] * p.vb[i];
    for (int j = 0; j < p.nh; ++j) {
      double a = p.hb[j];
      for (int i = 0; i < p.nv; ++i) a += v[i] * p.w[std::size_t(i) * p.nh + j];
      t += rbm_test::integrate(p.hidden, a).log_z;
    }
    terms.push_back(t);
    int s = 0;
    while (s < sites && ++x[s] == q) x[s++] = 0;
    if (s == sites) break;
  }
  std::vector<double> d(terms.begin(), terms.end());
  return rbm::log_sum_exp(d);
}

TEST(HiddenUnits, ExactLogZIsTheSumOverVisibleStatesOfIntegratedHiddenUnits) {
  for (unit_kind k : continuous) {
    const rbm::model_params p = random_hidden(5, 3, k, 0.7f, 12);
    const double want = brute_log_z(p);
    EXPECT_NEAR(rbm::exact_log_z(p), want, 1e-8 * std::fabs(want)) << rbm::to_string(k);
    rbm::model_params c = random_hidden(9, 2, k, 0.7f, 13);  // three sites of three states
    c.visible = unit_kind::categorical;
    c.states = 3;
    rbm::cpu::thread_team team(2);
    EXPECT_NEAR(rbm::exact_log_z(c, 24, &team), brute_log_z(c), 1e-8 * std::fabs(brute_log_z(c))) << rbm::to_string(k);
    // p(v) sums to one over the 2^5 visible states: the free energy's hidden terms are the same.
    std::vector<float> all;
    for (int v = 0; v < 32; ++v)
      for (int i = 0; i < 5; ++i) all.push_back(float((v >> i) & 1));
    std::vector<double> f(32);
    rbm::cpu_free_energy(p, all.data(), 32, f.data());
    double total = 0;
    for (double fe : f) total += std::exp(-fe - want);
    EXPECT_NEAR(total, 1.0, 1e-6) << rbm::to_string(k);
  }
  rbm::model_params g = random_hidden(4, 2, unit_kind::relu, 0.5f, 1);
  g.visible = unit_kind::gaussian;
  g.sigma.assign(4, 1.0f);
  EXPECT_THROW(rbm::exact_log_z(g), rbm::precondition_error);
  EXPECT_THROW(rbm::exact_log_z(random_hidden(30, 2, unit_kind::relu, 0.5f, 1), 20), rbm::precondition_error);
}

TEST(HiddenUnits, AisAgreesWithExactLogZ) {
  rbm::ais_options o;
  o.runs = 200;
  o.steps = 2000;
  o.seed = 5;
  for (unit_kind k : continuous) {
    const rbm::model_params p = random_hidden(14, 8, k, 0.25f, 21);
    const double exact = rbm::exact_log_z(p);
    const rbm::ais_result a = rbm::ais_log_z(p, std::vector<float>(p.vb.begin(), p.vb.end()), o);
    EXPECT_NEAR(a.log_z, exact, 0.05) << rbm::to_string(k) << " [" << a.log_z_low << ", " << a.log_z_high << "]";
    EXPECT_LE(a.log_z_low, exact + 0.01) << rbm::to_string(k);
    EXPECT_GE(a.log_z_high, exact - 0.01) << rbm::to_string(k);
    // W = 0 and hb = 0: the model is the base, whose log Z AIS returns exactly.
    rbm::model_params flat = p;
    std::fill(flat.w.begin(), flat.w.end(), 0.0f);
    std::fill(flat.hb.begin(), flat.hb.end(), 0.0f);
    EXPECT_NEAR(rbm::ais_log_z(flat, flat.vb, o).log_z, rbm::exact_log_z(flat), 1e-9) << rbm::to_string(k);
  }
}

TEST(HiddenUnits, PseudoLikelihoodIsTheSumOfFlippedFreeEnergies) {
  for (unit_kind k : continuous) {
    const rbm::model_params p = random_hidden(7, 4, k, 0.6f, 3);
    std::mt19937 rng(5);
    const int rows = 5;
    std::vector<float> v(std::size_t(rows) * p.nv);
    for (auto& x : v) x = float(rng() % 2);
    double want = 0;
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < p.nv; ++i) {
        std::vector<float> pair(v.begin() + r * p.nv, v.begin() + (r + 1) * p.nv);
        pair.insert(pair.end(), pair.begin(), pair.end());
        pair[p.nv + i] = 1.0f - pair[p.nv + i];
        double f[2];
        rbm::cpu_free_energy(p, pair.data(), 2, f);
        want += -std::log1p(std::exp(f[0] - f[1])) / rows;  // log p(v_i | v_-i)
      }
    EXPECT_NEAR(rbm::pseudo_log_likelihood(p, v.data(), rows), want, 1e-5) << rbm::to_string(k);
  }
}

// Bits that copy their neighbour: bit s + 1 equals bit s with probability 0.85, else a fair coin.
std::vector<float> copying_bits(int rows, int nv, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> v(std::size_t(rows) * nv);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < nv; ++i)
      v[std::size_t(r) * nv + i] = i > 0 && u(rng) < 0.85 ? v[std::size_t(r) * nv + i - 1] : float(rng() % 2);
  return v;
}

TEST(HiddenUnits, CdTrainingLearnsCorrelationsAnIndependentModelMisses) {
  const int nv = 12, nh = 8, rows = 2000;
  const auto train = copying_bits(rows, nv, 1), test = copying_bits(500, nv, 2);
  for (unit_kind k : continuous) {
    rbm::cd_config c;
    c.nv = nv;
    c.nh = nh;
    c.lr = 0.02f;
    c.hidden = k;
    rbm::cpu_backend be(c);
    rbm::model_params start = rbm::init_params_from_values(nv, nh, train.data(), rows, 3, false);
    start.hidden = k;
    be.set_params(start);
    rbm::model_params independent = start;
    std::fill(independent.w.begin(), independent.w.end(), 0.0f);
    const double base = rbm::mean_log_likelihood(independent, test.data(), 500, rbm::exact_log_z(independent));
    EXPECT_NEAR(base, nv * std::log(0.5), 0.05);
    std::vector<int> idx(rows);
    for (int r = 0; r < rows; ++r) idx[r] = r;
    be.attach(rbm::rows_view::of(train.data(), rows, nv));
    for (int epoch = 0; epoch < 20; ++epoch)
      for (int b = 0; b < rows; b += 20) be.step(idx.data() + b, 20);
    const rbm::model_params p = be.params();
    const double learned = rbm::mean_log_likelihood(p, test.data(), 500, rbm::exact_log_z(p));
    // The chain's entropy, log 2 + 11 H(0.925) = 3.62 nats, bounds what any model reaches.
    EXPECT_GT(learned, base + 2.0) << rbm::to_string(k) << ": independent " << base << ", learned " << learned;
    EXPECT_LT(learned, -3.5) << rbm::to_string(k);
  }
}

}  // namespace

namespace {

// A classification RBM of ReLU hidden units (the exact p(y | x) with each unit's log integral, its
// gradient with each unit's mean), trained discriminatively on 2,000 digits, classifies held-out ones;
// the trainer takes it on the CPU backend, saying so, and the hybrid objective's joint chain (ReLU
// draws) trains too.
TEST(HiddenUnitsLabels, AReluClassifierLearnsTheDigits) {
  rbm::dataset d = rbm_test::digits_subset(2000, 1000);
  const int nv = d.train.dim(), nh = 100, batch = 20;
  rbm::model_params p = rbm_test::random_model(nv, nh, 0.01f, 1);
  std::fill(p.vb.begin(), p.vb.end(), 0.0f);
  std::fill(p.hb.begin(), p.hb.end(), 0.0f);
  p.hidden = unit_kind::relu;
  p.add_labels(10);
  rbm::cd_config cfg;
  cfg.nv = nv;
  cfg.nh = nh;
  cfg.lr = 0.3f;
  cfg.momentum = 0.5f;
  cfg.weight_decay = 0.0f;
  cfg.hidden = unit_kind::relu;
  rbm::training_state st;
  rbm::classification_workspace ws;
  std::vector<float> v(std::size_t(d.train.count) * nv);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(d.train.pixels[i]);
  const std::vector<int> y(d.train.labels.begin(), d.train.labels.end());
  for (int epoch = 0; epoch < 10; ++epoch)
    for (int b = 0; b < d.train.count / batch; ++b)
      rbm::cpu_discriminative_step(p, st, v.data() + std::size_t(b) * batch * nv, y.data() + b * batch, batch, cfg, ws);
  std::vector<float> test(std::size_t(d.test.count) * nv);
  for (std::size_t i = 0; i < test.size(); ++i) test[i] = rbm::pixel_to_unit(d.test.pixels[i]);
  const int right = rbm_test::classified_right(p, test, d.test.labels);
  EXPECT_GT(right, 850) << "of 1000 held-out digits";  // chance: 100
  // Through the trainer: the hybrid objective (on the GPU where one is usable).
  rbm::train_options o;
  o.objective = "hybrid";
  o.alpha = rbm::classifier_defaults::alpha;
  o.batch = batch;
  o.cd.nh = 50;
  o.cd.hidden = unit_kind::relu;
  o.cd.lr = 0.3f;
  o.labels = true;
  o.epochs = 3;
  std::string notes;
  o.on_note = [&notes](const std::string& line) { notes += line + "\n"; };
  const rbm::train_result h = rbm::train(rbm_test::digits_subset(1000, 300), o);
  EXPECT_TRUE(std::isfinite(h.history.back().train.err_sampled));
  EXPECT_GT(h.history.back().test_accuracy, 0.5) << notes;  // ten classes: chance is 0.1
}

}  // namespace

namespace {

TEST(HiddenUnitsCli, TrainsEvaluatesSamplesAndRefusesWhatItCannotDo) {
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "run";
  auto r = rbm_test::run_rbm("train --hidden 20 --hidden-units relu --epochs 1 --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string model = (out / "model.safetensors").string();
  const rbm::saved_model m = rbm::load_model(model);
  EXPECT_EQ(m.params.hidden, unit_kind::relu);
  EXPECT_EQ(m.metadata.at("hidden_units"), "relu");
  // 2^784 visible configurations: no exact log Z, AIS from the base rates; the pseudo-likelihood.
  r = rbm_test::run_rbm("evaluate --model " + model + " --ais-runs 20 --ais-steps 300 --pll-samples 50 --json " +
                        (dir / "e.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(dir / "e.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_FALSE(j.contains("log_z_exact"));
  EXPECT_TRUE(std::isfinite(j.at("ais").at("log_z").get<double>())) << j.dump();
  EXPECT_LT(j.at("ais").at("log_likelihood").get<double>(), 0.0) << j.dump();
  EXPECT_LT(j.at("pseudo_log_likelihood").get<double>(), 0.0) << j.dump();
  // The picture tools draw the hidden units as their kind.
  for (const std::string tool : {"sample", "reconstruct", "filters"}) {
    r = rbm_test::run_rbm(tool + " --model " + model + " --out " + (dir / (tool + ".png")).string());
    EXPECT_EQ(r.code, 0) << tool << ": " << r.output;
  }
  r = rbm_test::run_rbm("prob --model " + model + " --visible " + std::string(784, '0'));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("relu hidden units have densities"), std::string::npos) << r.output;
  // A resumed run keeps the kind.
  r = rbm_test::run_rbm("train --resume " + out.string() + " --epochs 2 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(rbm::load_model(model).params.hidden, unit_kind::relu);

  auto refused = [&](const std::string& args, const std::string& what) {
    rbm_test::expect_refused(args + " --epochs 1 --quiet", what, dir);
  };
  refused("train --hidden-units softmax", "--hidden-units must be bernoulli, gaussian or relu, or one per layer of a stack (got 'softmax')");
  refused("train --hidden-units categorical", "--hidden-units must be bernoulli, gaussian or relu");
  refused("train --hidden-units gaussian --visible gaussian", "pair with Bernoulli or categorical visible units");
  if (!rbm_test::gpu_usable())  // the CUDA label step has every hidden kind (tests/gpu)
    refused("train --hidden-units relu --labels --device cuda", "the device cuda was asked for, but no GPU is usable");
  refused("train --hidden-units relu --hidden 20,10", "Gaussian, which take Bernoulli hidden units (not relu)");
  refused("train --hidden-units relu --sparsity-target 0.1 --sparsity-cost 0.1", "the sparsity target");
  refused("train --init-from " + model, "the model has relu hidden units, not bernoulli");
}

TEST(HiddenUnitsCli, CategoricalSitesWithReluUnitsEvaluateExactly) {
  // Twelve binary sites as categorical units of 2 states: 4096 visible configurations, summed exactly.
  const auto dir = rbm_test::fresh_dir();
  const auto bits = copying_bits(1000, 12, 1), held = copying_bits(300, 12, 2);
  rbm_test::write_npy(dir / "train.npy", std::vector<std::int64_t>(bits.begin(), bits.end()), 1000, 12, "<i8");
  rbm_test::write_npy(dir / "test.npy", std::vector<std::int64_t>(held.begin(), held.end()), 300, 12, "<i8");
  const std::string data = " --train-data " + (dir / "train.npy").string() + " --test-data " + (dir / "test.npy").string();
  const auto out = dir / "run";
  auto r = rbm_test::run_rbm("train --visible categorical --hidden-units relu --hidden 8 --epochs 10 --batch 20 --lr 0.02 "
                             "--quiet" + data + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string model = (out / "model.safetensors").string();
  r = rbm_test::run_rbm("evaluate --model " + model + data + " --ais-runs 100 --ais-steps 1000 --json " +
                        (dir / "e.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(dir / "e.json");
  const auto j = nlohmann::json::parse(in);
  const rbm::saved_model m = rbm::load_model(model);
  const double lz = rbm::exact_log_z(m.params);
  EXPECT_NEAR(j.at("log_z_exact").get<double>(), lz, 1e-6 * std::fabs(lz));
  EXPECT_NEAR(j.at("ais").at("log_z").get<double>(), lz, 0.1) << j.dump();
  EXPECT_GT(j.at("log_likelihood_exact").get<double>(), j.at("baseline_independent_sites").get<double>() + 1.5) << j.dump();
}

}  // namespace
