// Categorical (Potts) visible units: the CD step against the naive double reference, exact log Z
// against brute-force enumeration of both layers, and CD training that learns the data's correlations
// (exact held-out log-likelihood above the independent-sites model it starts from).
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
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/npy.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/host/tools.hpp"
#include "reference_cd.hpp"

namespace {

rbm::model_params random_categorical(int sites, int q, int nh, float scale, unsigned seed) {
  rbm::model_params p = rbm_test::random_model(sites * q, nh, scale, seed);
  p.visible = rbm::unit_kind::categorical;
  p.states = q;
  return p;
}

// One-hot rows [rows, sites * q] of states x [rows, sites].
std::vector<float> one_hot(const std::vector<int>& x, int sites, int q) {
  std::vector<float> v(x.size() * q, 0.0f);
  for (std::size_t g = 0; g < x.size(); ++g) v[g * q + x[g]] = 1.0f;
  (void)sites;
  return v;
}

TEST(CategoricalUnits, CdStepMatchesTheNaiveDoubleReference) {
  const int sites = 5, q = 4, nh = 6, rows = 7;
  rbm::cd_config c;
  c.nv = sites * q;
  c.nh = nh;
  c.k = 2;
  c.lr = 0.05f;
  c.momentum = 0.5f;
  c.visible = rbm::unit_kind::categorical;
  c.states = q;
  rbm::model_params p = random_categorical(sites, q, nh, 0.8f, 21);
  rbm_test::ref_model m = rbm_test::ref_from(p);
  m.states = q;
  std::mt19937 rng(2);
  rbm::cd_state st;
  rbm::cd_workspace ws;
  rbm::cpu::philox_stream gen(8);
  int ambiguous = 0;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<int> x(std::size_t(rows) * sites);
    for (auto& s : x) s = int(rng() % q);
    const std::vector<float> v0 = one_hot(x, sites, q);
    const rbm::cd_draw_layout lay = rbm::make_draw_layout(rows, c);
    EXPECT_EQ(lay.visible, std::size_t(rows) * sites);  // one uniform per site
    std::vector<float> draws(lay.total());
    gen.uniform(draws.data(), draws.size());
    const float err = rbm::cpu_cd_step(p, st, v0.data(), rows, draws.data(), c, ws);
    const double ref_err = rbm_test::ref_cd_step(m, std::vector<double>(v0.begin(), v0.end()), rows, draws.data(), c,
                                                 ambiguous);
    EXPECT_NEAR(err, ref_err, 1e-6);
    EXPECT_GT(ref_err, 0.01);
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of a cumulative probability; pick another seed";
  for (std::size_t i = 0; i < p.w.size(); ++i) ASSERT_NEAR(p.w[i], m.w[i], 1e-5) << "W[" << i << "]";
  for (int i = 0; i < p.nv; ++i) ASSERT_NEAR(p.vb[i], m.vb[i], 1e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], m.hb[j], 1e-5) << "hb[" << j << "]";
}

// log Z by brute force: every visible configuration (q^sites) and hidden one (2^nh), the energy
// -v.vb - h.hb - v W h of one-hot v, in double.
double brute_log_z(const rbm::model_params& p) {
  const int q = p.states, sites = p.sites(), nh = p.nh;
  std::vector<double> terms;
  std::vector<int> x(sites, 0);
  for (;;) {
    for (int h = 0; h < (1 << nh); ++h) {
      double e = 0;
      for (int j = 0; j < nh; ++j)
        if ((h >> j) & 1) e += p.hb[j];
      for (int s = 0; s < sites; ++s) {
        const int i = s * q + x[s];
        e += p.vb[i];
        for (int j = 0; j < nh; ++j)
          if ((h >> j) & 1) e += p.w[std::size_t(i) * nh + j];
      }
      terms.push_back(e);
    }
    int s = 0;
    while (s < sites && ++x[s] == q) x[s++] = 0;
    if (s == sites) break;
  }
  const double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

TEST(CategoricalUnits, ExactLogZIsTheBruteForceSumOverBothLayers) {
  const rbm::model_params p = random_categorical(4, 3, 5, 1.0f, 5);
  EXPECT_NEAR(rbm::exact_log_z(p), brute_log_z(p), 1e-9 * std::fabs(brute_log_z(p)));
  // The probabilities of all q^sites visible configurations sum to one.
  std::vector<int> x(4, 0);
  std::vector<float> all;
  int count = 0;
  for (;; ++count) {
    const auto v = one_hot(x, 4, 3);
    all.insert(all.end(), v.begin(), v.end());
    int s = 0;
    while (s < 4 && ++x[s] == 3) x[s++] = 0;
    if (s == 4) break;
  }
  ++count;
  std::vector<double> f(count);
  rbm::cpu_free_energy(p, all.data(), count, f.data());
  double total = 0;
  for (double fe : f) total += std::exp(-fe - rbm::exact_log_z(p));
  EXPECT_NEAR(total, 1.0, 1e-6);
  // mean_log_likelihood is the mean of those log p's.
  double mean = 0;
  for (double fe : f) mean += (-fe - rbm::exact_log_z(p)) / count;
  EXPECT_NEAR(rbm::mean_log_likelihood(p, all.data(), count, rbm::exact_log_z(p)), mean, 1e-5);
}

TEST(CategoricalUnits, AisFromIndependentSitesAgreesWithExactLogZ) {
  rbm::ais_options o;
  o.runs = 200;
  o.steps = 2000;
  o.seed = 3;
  // W = 0: the model is its base (independent sites of these logits); AIS returns the base's log Z.
  rbm::model_params flat = random_categorical(6, 4, 10, 0.6f, 9);
  std::fill(flat.w.begin(), flat.w.end(), 0.0f);
  std::fill(flat.hb.begin(), flat.hb.end(), 0.0f);
  EXPECT_NEAR(rbm::ais_log_z(flat, flat.vb, o).log_z, rbm::exact_log_z(flat), 1e-6);
  // A model with structure, from independent sites of other logits.
  const rbm::model_params p = random_categorical(6, 4, 10, 0.6f, 9);
  std::vector<float> base(p.vb.size());
  for (std::size_t i = 0; i < base.size(); ++i) base[i] = 0.5f * p.vb[i];
  const rbm::ais_result a = rbm::ais_log_z(p, base, o);
  const double exact = rbm::exact_log_z(p);
  EXPECT_NEAR(a.log_z, exact, 0.05) << "interval [" << a.log_z_low << ", " << a.log_z_high << "]";
  EXPECT_LE(a.log_z_low, exact + 0.01);
  EXPECT_GE(a.log_z_high, exact - 0.01);
  // The same uniforms on any thread count: a team of 3 gives the same estimate (up to the GEMMs'
  // rounding over other row blocks; a different draw would move it by ~1e-2).
  rbm::cpu::thread_team team(3);
  EXPECT_NEAR(rbm::ais_log_z(p, base, o, &team).log_z, a.log_z, 1e-5);
}

// Sites that copy one another: site s + 1 equals site s with probability 0.8, else a uniform state. An
// independent-sites model cannot see it; 8 hidden units can.
std::vector<int> copying_chains(int rows, int sites, int q, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int> x(std::size_t(rows) * sites);
  for (int r = 0; r < rows; ++r)
    for (int s = 0; s < sites; ++s)
      x[std::size_t(r) * sites + s] = s > 0 && u(rng) < 0.8 ? x[std::size_t(r) * sites + s - 1] : int(rng() % q);
  return x;
}

// CD (tempering 0) or parallel tempering's beta = 1 chain, with `hidden` units, learns the copying.
void expect_training_learns_correlations(int tempering, rbm::unit_kind hidden, float lr) {
  SCOPED_TRACE("tempering " + std::to_string(tempering) + ", " + rbm::to_string(hidden) + " hidden units");
  const int sites = 6, q = 3, nh = 8, rows = 2000;
  const auto train = one_hot(copying_chains(rows, sites, q, 1), sites, q);
  const auto test = one_hot(copying_chains(500, sites, q, 2), sites, q);
  rbm::cd_config c;
  c.nv = sites * q;
  c.nh = nh;
  c.lr = lr;
  c.visible = rbm::unit_kind::categorical;
  c.states = q;
  c.hidden = hidden;
  c.tempering = tempering;
  rbm::cpu_backend be(c);
  rbm::model_params start = rbm::init_categorical_params(c.nv, nh, q, train.data(), rows, 3, false);
  start.hidden = hidden;
  be.set_params(start);
  const double independent = rbm::mean_log_likelihood(start, test.data(), 500, rbm::exact_log_z(start));
  EXPECT_NEAR(independent, sites * std::log(1.0 / q), 0.05);  // the data's marginals are near uniform
  std::vector<int> idx(rows);
  for (int r = 0; r < rows; ++r) idx[r] = r;
  be.attach(rbm::rows_view::of(train.data(), rows, c.nv));
  for (int epoch = 0; epoch < 20; ++epoch)
    for (int b = 0; b < rows; b += 20) be.step(idx.data() + b, 20);
  const rbm::model_params p = be.params();
  const double learned = rbm::mean_log_likelihood(p, test.data(), 500, rbm::exact_log_z(p));
  // The chain's entropy per sequence, log 3 + 5 x H(0.8 + 0.2/3, 0.2/3, 0.2/3) = 3.52 nats, bounds what
  // any model reaches on held-out rows (up to their sampling error, ~0.05); -3.92 when written.
  EXPECT_GT(learned, independent + 2.0) << "independent " << independent << ", learned " << learned;
  EXPECT_LT(learned, -3.45);
}

TEST(CategoricalUnits, CdTrainingLearnsCorrelationsAnIndependentModelMisses) {
  expect_training_learns_correlations(0, rbm::unit_kind::bernoulli, 0.05f);
}

// The tempered sweep draws each site from softmax(vb + beta (W h)) and continuous hidden units from their
// tempered input: every kind learns under it too.
TEST(CategoricalUnits, ParallelTemperingLearnsCorrelationsWithEveryHiddenKind) {
  expect_training_learns_correlations(4, rbm::unit_kind::bernoulli, 0.05f);
  expect_training_learns_correlations(4, rbm::unit_kind::relu, 0.01f);
}

// An int64 .npy matrix [rows, cols].
void write_states(const std::filesystem::path& path, const std::vector<int>& x, int rows, int cols) {
  rbm_test::write_npy(path, std::vector<std::int64_t>(x.begin(), x.end()), rows, cols, "<i8");
}

TEST(CategoricalCli, TrainsFromIntegerNpyEvaluatesExactlyAndRefusesWhatItCannotRead) {
  const auto dir = rbm_test::fresh_dir();
  const int sites = 6, q = 3;
  write_states(dir / "train.npy", copying_chains(2000, sites, q, 1), 2000, sites);
  write_states(dir / "test.npy", copying_chains(500, sites, q, 2), 500, sites);
  const std::string data = " --train-data " + (dir / "train.npy").string() + " --test-data " + (dir / "test.npy").string();
  const auto out = dir / "run";
  auto r = rbm_test::run_rbm("train --visible categorical --hidden 8 --epochs 10 --batch 20 --lr 0.05 --quiet" + data +
                             " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const rbm::saved_model m = rbm::load_model((out / "model.safetensors").string());
  EXPECT_TRUE(m.params.categorical());
  EXPECT_EQ(m.params.states, q);  // the data's largest value + 1
  EXPECT_EQ(m.params.nv, sites * q);
  r = rbm_test::run_rbm("evaluate --model " + (out / "model.safetensors").string() + data + " --json " +
                        (dir / "e.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(dir / "e.json");
  const auto j = nlohmann::json::parse(in);
  // The exact held-out log-likelihood is that of the library's own model, far above independent sites.
  const double lz = rbm::exact_log_z(m.params);
  EXPECT_NEAR(j.at("log_z_exact").get<double>(), lz, 1e-6 * std::fabs(lz));
  EXPECT_GT(j.at("log_likelihood_exact").get<double>(), j.at("baseline_independent_sites").get<double>() + 1.5) << j.dump();
  // AIS from the independent sites agrees with the exact figure.
  EXPECT_NEAR(j.at("ais").at("log_z").get<double>(), lz, 0.1) << j.dump();
  // The run resumes: 10 more epochs from its checkpoint.
  r = rbm_test::run_rbm("train --resume " + out.string() + " --epochs 12 --quiet" + data);
  EXPECT_EQ(r.code, 0) << r.output;

  // Refused, each named, nothing written.
  auto refused = [&](const std::string& args, const std::string& what) {
    const auto never = dir / "never";
    const auto rr = rbm_test::run_rbm(args + " --quiet --out " + never.string());
    EXPECT_NE(rr.code, 0) << args;
    EXPECT_NE(rr.output.find(what), std::string::npos) << "for `" << args << "` got: " << rr.output;
    EXPECT_FALSE(std::filesystem::exists(never)) << args;
  };
  std::vector<int> bad = copying_chains(50, sites, q, 3);
  bad[7 * sites + 4] = 5;  // row 7, column 4: outside the 3 states given
  write_states(dir / "bad.npy", bad, 50, sites);
  refused("train --visible categorical --states 3 --train-data " + (dir / "bad.npy").string(), "row 7, column 4 holds 5");
  refused("train --visible categorical --epochs 1", "integer states from .npy files");
  if (!rbm_test::gpu_usable())  // categorical units train on the GPU too (tests/gpu/test_gpu_categorical.cpp)
    refused("train --visible categorical --device cuda" + data, "no GPU is usable");
  // 9 sites of 2 states: as many one-hot units (18) as the model's 6 sites of 3, and still not its data.
  std::vector<int> binary(50 * 9);
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = int(i * 7 % 3 == 0);
  write_states(dir / "binary.npy", binary, 50, 9);
  refused("train --visible categorical --init-from " + (out / "model.safetensors").string() + " --train-data " +
              (dir / "binary.npy").string(),
          "the model's sites have 3 states, the data's 2");
  // reconstruct reads states, not pictures; from the data, each site's mean-field reconstruction is
  // its softmax given p(h | v) (a row per site, a column per state in the picture).
  r = rbm_test::run_rbm("reconstruct --model " + (out / "model.safetensors").string() + " --image x.png --out " +
                        (dir / "r.png").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("reconstruct integer states"), std::string::npos) << r.output;
  r = rbm_test::run_rbm("reconstruct --model " + (out / "model.safetensors").string() + data + " --indices 3,4 --out " +
                        (dir / "r.png").string() + " --values " + (dir / "r.npy").string());
  ASSERT_EQ(r.code, 0) << r.output;
  {
    const rbm::saved_model mr = rbm::load_model((out / "model.safetensors").string());
    const auto held = one_hot(copying_chains(500, sites, q, 2), sites, q);
    const rbm::npy_matrix rec = rbm::read_npy_matrix((dir / "r.npy").string());
    ASSERT_EQ(rec.rows, 2);
    ASSERT_EQ(rec.cols, sites * q);
    for (int k = 0; k < 2; ++k) {
      const float* v = held.data() + std::size_t(3 + k) * sites * q;
      const std::vector<float> h = rbm::hidden_probabilities_values(mr.params, v, 1);
      const std::vector<float> want = rbm::visible_probabilities(mr.params, h.data(), 1);
      for (int i = 0; i < sites * q; ++i) ASSERT_NEAR(rec.values[std::size_t(k) * sites * q + i], want[i], 1e-6);
      for (int site = 0; site < sites; ++site) {
        double sum = 0;
        for (int s = 0; s < q; ++s) sum += rec.values[std::size_t(k) * sites * q + site * q + s];
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
  }
  // sample draws sequences: states in [0, 3), neighbours copying one another as the data's do (0.8 +
  // 0.2 / 3 of the time; independent sites would agree a third of the time).
  r = rbm_test::run_rbm("sample --model " + (out / "model.safetensors").string() + " --chains 200 --steps 200 --out " +
                        (dir / "s.png").string() + " --values " + (dir / "s.npy").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const rbm::npy_matrix s = rbm::read_npy_matrix((dir / "s.npy").string());
  ASSERT_EQ(s.rows, 200);
  ASSERT_EQ(s.cols, sites);
  int same = 0;
  for (int c = 0; c < 200; ++c)
    for (int i = 0; i + 1 < sites; ++i) {
      const float a = s.values[std::size_t(c) * sites + i], b = s.values[std::size_t(c) * sites + i + 1];
      ASSERT_TRUE(a == 0.0f || a == 1.0f || a == 2.0f) << a;
      same += a == b ? 1 : 0;
    }
  EXPECT_GT(same / double(200 * (sites - 1)), 0.6);
  r = rbm_test::run_rbm("filters --model " + (out / "model.safetensors").string() + " --out " + (dir / "f.png").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("8 filters of 6x3"), std::string::npos) << r.output;  // a row per site, a column per state
  // features reads the rows as the model does (one-hot): p(h | v) of the held-out rows.
  r = rbm_test::run_rbm("features --model " + (out / "model.safetensors").string() + data + " --split test --out " +
                        (dir / "f.npy").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const rbm::npy_matrix f = rbm::read_npy_matrix((dir / "f.npy").string());
  ASSERT_EQ(f.rows, 500);
  ASSERT_EQ(f.cols, 8);
  const auto test_rows = one_hot(copying_chains(500, sites, q, 2), sites, q);
  std::vector<float> want(std::size_t(500) * 8);
  const rbm::saved_model resumed = rbm::load_model((out / "model.safetensors").string());  // after the resume
  rbm::cpu_hidden_probs(resumed.params, test_rows.data(), 500, want.data());
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(f.values[i], want[i], 1e-6) << i;
}

// NAME.npy [rows, sites] and NAME_labels.npy [rows]: two classes, each site of a class-0 sequence state
// 0 half the time and else a uniform state, class 1's the same with state 2; returns the data options
// of 2,000 training and 500 held-out rows in `dir`.
std::string labelled_sequences(const std::filesystem::path& dir, int sites, int q) {
  auto make = [&](int rows, unsigned seed, const std::string& name) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<int> x(std::size_t(rows) * sites), y(rows);
    for (int r = 0; r < rows; ++r) {
      y[r] = int(rng() % 2);
      for (int s = 0; s < sites; ++s) x[std::size_t(r) * sites + s] = u(rng) < 0.5 ? 2 * y[r] : int(rng() % q);
    }
    write_states(dir / (name + ".npy"), x, rows, sites);
    rbm_test::write_npy(dir / (name + "_labels.npy"), std::vector<std::int64_t>(y.begin(), y.end()), rows, 1, "<i8");
  };
  make(2000, 1, "train");
  make(500, 2, "test");
  return " --train-data " + (dir / "train.npy").string() + " --test-data " + (dir / "test.npy").string() +
         " --train-labels " + (dir / "train_labels.npy").string() + " --test-labels " +
         (dir / "test_labels.npy").string();
}

// The accuracy `rbm train --validation` prints for the test set it classifies once at the end (-1: none).
double test_set_accuracy(const std::string& output) {
  const auto at = output.find("not used in training): accuracy ");
  return at == std::string::npos ? -1.0 : std::stod(output.substr(at + 33));
}

// Sequences of two classes: each site of a class-0 sequence is state 0 half the time and else a
// uniform state, class 1's the same with state 2. A classification RBM on their states (labels from a
// .npy vector) tells them apart as well as Bayes' rule nearly; prob prints each site's softmax.
TEST(CategoricalCli, LabelledSequencesClassifyFromNpyLabels) {
  const auto dir = rbm_test::fresh_dir();
  const int sites = 8, q = 3;
  const std::string data = labelled_sequences(dir, sites, q);
  for (const std::string objective : {"hybrid", "generative"}) {
    const auto out = dir / objective;
    auto r = rbm_test::run_rbm("train --visible categorical --labels --objective " + objective +
                               " --hidden 16 --epochs 10 --quiet" + data + " --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.output;
    // Bayes' rule on the counts of states 0 and 2 errs on about 2 % of sequences.
    EXPECT_GT(rbm_test::classify_accuracy("--model " + (out / "model.safetensors").string() + data), 0.9) << objective;
  }
  // With a validation split the held-out rows are classified once at the end, read one-hot.
  auto split = rbm_test::run_rbm("train --visible categorical --labels --validation 300 --hidden 16 --epochs 10 --quiet" +
                             data + " --out " + (dir / "split").string());
  ASSERT_EQ(split.code, 0) << split.output;
  EXPECT_GT(test_set_accuracy(split.output), 0.9) << split.output;
  // prob on a categorical model: a state per site; p(v | h) the product of the chosen states' softmax.
  const std::string model = (dir / "hybrid" / "model.safetensors").string();
  auto r = rbm_test::run_rbm("prob --model " + model + " --visible 0,1,2,2,2,0,0,1");
  ASSERT_EQ(r.code, 0) << r.output;
  const rbm::saved_model m = rbm::load_model(model);
  std::vector<float> v(sites * q, 0.0f);
  const int states[] = {0, 1, 2, 2, 2, 0, 0, 1};
  for (int s = 0; s < sites; ++s) v[s * q + states[s]] = 1.0f;
  std::vector<double> a(m.params.nh);
  std::vector<float> h(m.params.nh);
  for (int j = 0; j < m.params.nh; ++j) {
    a[j] = m.params.hb[j];
    for (int i = 0; i < sites * q; ++i) a[j] += v[i] * m.params.w[std::size_t(i) * m.params.nh + j];
    h[j] = 1.0 / (1.0 + std::exp(-a[j])) >= 0.5 ? 1.0f : 0.0f;
  }
  double pv = 1;
  for (int s = 0; s < sites; ++s) {
    double logits[3], top = -1e300, sum = 0;
    for (int k = 0; k < q; ++k) {
      logits[k] = m.params.vb[s * q + k];
      for (int j = 0; j < m.params.nh; ++j) logits[k] += h[j] * m.params.w[std::size_t(s * q + k) * m.params.nh + j];
      top = std::max(top, logits[k]);
    }
    for (int k = 0; k < q; ++k) sum += std::exp(logits[k] - top);
    pv *= std::exp(logits[states[s]] - top) / sum;
  }
  const auto at = r.output.find("p(v | h) for the given v: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(at + 26)), pv, 1e-5 * pv) << r.output;
  r = rbm_test::run_rbm("prob --model " + model + " --visible 0,1,3,2,2,0,0,1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("site 2 holds 3, not a state in [0, 3)"), std::string::npos) << r.output;
  // Labels that do not fit the data are refused, naming the file.
  rbm_test::write_npy(dir / "short.npy", std::vector<std::int64_t>(10, 1), 10, 1, "<i8");
  r = rbm_test::run_rbm("train --visible categorical --labels --quiet --train-data " + (dir / "train.npy").string() +
                        " --train-labels " + (dir / "short.npy").string() + " --out " + (dir / "never").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("short.npy: 10 labels for the 2000 samples of"), std::string::npos) << r.output;
}

// A deep belief network on sequences: the categorical bottom layer trains from the integer states,
// the layers above read its hidden units; labels on the top, fine-tuned, classify the held-out rows.
TEST(CategoricalCli, AStackOnSequencesTrainsFineTunesAndClassifies) {
  const auto dir = rbm_test::fresh_dir();
  const std::string data = labelled_sequences(dir, 8, 3);
  const auto out = dir / "dbn";
  auto r = rbm_test::run_rbm("train --visible categorical --hidden 16,8 --labels --epochs 20 --validation 300 "
                             "--fine-tune 5 --quiet" + data + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(test_set_accuracy(r.output), 0.9) << r.output;  // the held-out rows, read one-hot after the split
  const rbm::stack_model m = rbm::load_stack((out / "model.safetensors").string());
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_TRUE(m.layers[0].categorical());
  EXPECT_EQ(m.layers[0].states, 3);
  EXPECT_EQ(m.layers[1].nv, 16);
  EXPECT_EQ(m.tuned.size(), 2u);
  for (const char* greedy : {"", " --greedy"})
    EXPECT_GT(rbm_test::classify_accuracy("--model " + (out / "model.safetensors").string() + greedy + data), 0.9)
        << greedy;
  // The stack's likelihood bound is for Bernoulli visible units: refused by name.
  r = rbm_test::run_rbm("evaluate --model " + (out / "model.safetensors").string() + data);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("bottom layer is categorical"), std::string::npos) << r.output;
}

}  // namespace
