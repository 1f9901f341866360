// One CD-k / PCD-k step of the CPU backend against a naive double-precision implementation written here,
// fed the same uniforms, on odd sizes.
#include <cblas.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/thread_team.hpp"
#include "reference_cd.hpp"

namespace {

using rbm_test::ref_cd_step;
using rbm_test::ref_model;
using rbm_test::sig;

struct case_t {
  int k;
  bool pcd;
  bool tutorial_rule;
  int threads;  // 1: the caller alone; more: a thread_team (rows and W split unevenly)
};

class CpuCdStep : public ::testing::TestWithParam<case_t> {};

TEST_P(CpuCdStep, MatchesNaiveDoubleReferenceOverSeveralBatches) {
  const case_t tc = GetParam();
  const int nv = 37, nh = 23;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = tc.k;
  c.pcd = tc.pcd;
  c.lr = 0.05f;
  c.momentum = tc.tutorial_rule ? 0.0f : 0.7f;
  c.weight_decay = tc.tutorial_rule ? 0.0f : 1e-3f;
  c.sum_weight_gradient = tc.tutorial_rule;
  c.hidden_bias_from_states = tc.tutorial_rule;
  c.sparsity_target = 0.1f;
  c.sparsity_cost = tc.tutorial_rule ? 0.0f : 0.2f;

  std::mt19937 rng(1234 + tc.k * 10 + tc.pcd);
  std::uniform_real_distribution<float> unif(0.0f, 1.0f);
  rbm::model_params p = rbm_test::random_model(nv, nh, 0.5f, 99 + tc.k * 10 + tc.pcd);
  ref_model m{nv, nh, {p.w.begin(), p.w.end()}, {p.vb.begin(), p.vb.end()}, {p.hb.begin(), p.hb.end()},
              std::vector<double>(nv * nh), std::vector<double>(nv), std::vector<double>(nh), {}};

  rbm::cd_state st;
  rbm::cd_workspace ws;
  std::unique_ptr<rbm::cpu::thread_team> team;
  if (tc.threads > 1) team = std::make_unique<rbm::cpu::thread_team>(tc.threads);
  ws.team = team.get();
  rbm::cpu::philox_stream gen(99);
  int ambiguous = 0;
  // Several batches: momentum and PCD chains carry over, a smaller batch uses the first chains, and a
  // larger one seeds more.
  for (int B : {9, 3, 13}) {  // 3 rows: one part, on the calling thread
    std::vector<float> v0(B * nv);
    for (auto& x : v0) x = unif(rng) < 0.3f ? unif(rng) : 0.0f;  // grey values, mostly background
    std::vector<float> u(rbm::cd_uniform_count(B, nv, nh, c.k), -1.0f);
    gen.uniform(u.data(), u.size());
    const float err = rbm::cpu_cd_step(p, st, v0.data(), B, u.data(), c, ws);
    const double ref_err = ref_cd_step(m, std::vector<double>(v0.begin(), v0.end()), B, u.data(), c, ambiguous);
    // The step's own error: mean (v0 - v1)^2, summed in float blocks (1e-6 relative is ample).
    EXPECT_NEAR(err, ref_err, 1e-6 * std::max(1.0, ref_err)) << "batch of " << B;
    EXPECT_GT(ref_err, 0.01);  // a real reconstruction error, not a vacuous zero
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of its probability; pick another seed";
  // float32 accumulation over at most 37 terms per product, three updates: 1e-5 absolute is ample and
  // still far below the size of one sampled-state flip (~lr/B = 4e-3).
  for (int i = 0; i < nv * nh; ++i) ASSERT_NEAR(p.w[i], m.w[i], 1e-5) << "W[" << i << "]";
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], m.vb[i], 1e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], m.hb[j], 1e-5) << "hb[" << j << "]";
  if (tc.pcd) {
    ASSERT_EQ(st.chain_h.size(), m.chain.size());
    for (std::size_t i = 0; i < m.chain.size(); ++i) ASSERT_EQ(st.chain_h[i], m.chain[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuCdStep,
                         ::testing::Values(case_t{1, false, false, 1}, case_t{3, false, false, 1},
                                           case_t{1, true, false, 1}, case_t{3, true, false, 1},
                                           case_t{1, false, true, 1}, case_t{3, false, false, 3},
                                           case_t{3, true, false, 3}, case_t{1, true, false, 4}),
                         [](const auto& info) {
                           return std::string(info.param.pcd ? "PCD" : "CD") + std::to_string(info.param.k) +
                                  (info.param.tutorial_rule ? "_tutorial_rule" : "") +
                                  (info.param.threads > 1 ? "_" + std::to_string(info.param.threads) + "_threads"
                                                          : "");
                         });

// Gaussian visible units (fixed sigma per unit, real-valued data): the same step against the double
// reference, mean-field or sampled reconstructions, CD and PCD, on the caller and on a team; the
// draws where the layout puts them (uniforms for the hidden layers, normals for sampled visible ones).
struct gaussian_case {
  int k;
  bool sample, pcd;
  int threads;
  bool learn_sigma = false;
};

class CpuGaussianCdStep : public ::testing::TestWithParam<gaussian_case> {};

TEST_P(CpuGaussianCdStep, MatchesNaiveDoubleReference) {
  const gaussian_case tc = GetParam();
  const int nv = 13, nh = 9;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = tc.k;
  c.pcd = tc.pcd;
  c.lr = 0.01f;
  c.momentum = 0.5f;
  c.weight_decay = 1e-3f;
  c.visible = rbm::unit_kind::gaussian;
  c.visible_sample = tc.sample;
  c.learn_sigma = tc.learn_sigma;
  c.sigma_floor = 0.6f;  // above some of the starting sigmas: the floor is exercised too
  rbm::model_params p(nv, nh, rbm::unit_kind::gaussian);
  std::mt19937 rng(7 + tc.k);
  std::normal_distribution<float> w(0.0f, 0.3f), data(0.0f, 1.0f);
  std::uniform_real_distribution<float> sd(0.5f, 1.5f);
  for (auto& x : p.w) x = w(rng);
  for (auto& x : p.vb) x = w(rng);
  for (auto& x : p.hb) x = w(rng);
  for (auto& x : p.sigma) x = sd(rng);
  const std::vector<float> sd_start = p.sigma;
  auto m = rbm_test::ref_from(p);
  rbm::cd_state st;
  rbm::cd_workspace ws;
  std::unique_ptr<rbm::cpu::thread_team> team;
  if (tc.threads > 1) team = std::make_unique<rbm::cpu::thread_team>(tc.threads);
  ws.team = team.get();
  int ambiguous = 0;
  std::uint64_t position = 0;
  for (int B : {11, 5, 16}) {
    std::vector<float> v0(std::size_t(B) * nv);
    for (auto& x : v0) x = data(rng);
    const rbm::cd_draw_layout lay = rbm::make_draw_layout(B, c);
    if (tc.sample) EXPECT_EQ(lay.h(0) % 2, 0u);  // normals pair words: every segment starts even
    std::vector<float> draws(lay.total());
    rbm::cpu::philox_uniforms(5, position, draws.data(), draws.size());
    if (tc.sample)
      for (int step = 0; step < c.k; ++step) {
        ASSERT_EQ(lay.v(step) % 2, 0u);
        rbm::cpu::philox_normals(5, position + lay.v(step), draws.data() + lay.v(step), lay.visible);
      }
    position += lay.total();
    const float err = rbm::cpu_cd_step(p, st, v0.data(), B, draws.data(), c, ws);
    const double ref_err = ref_cd_step(m, std::vector<double>(v0.begin(), v0.end()), B, draws.data(), c, ambiguous);
    EXPECT_NEAR(err, ref_err, 1e-5 * std::max(1.0, ref_err)) << "batch of " << B;
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of its probability; pick another seed";
  for (int i = 0; i < nv * nh; ++i) ASSERT_NEAR(p.w[i], m.w[i], 2e-5) << "W[" << i << "]";
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], m.vb[i], 2e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], m.hb[j], 2e-5) << "hb[" << j << "]";
  if (tc.learn_sigma) {
    int moved = 0;
    for (int i = 0; i < nv; ++i) {
      ASSERT_NEAR(p.sigma[i], m.sigma[i], 2e-5) << "sigma[" << i << "]";
      ASSERT_GE(p.sigma[i], c.sigma_floor);
      moved += std::fabs(p.sigma[i] - sd_start[i]) > 1e-4;
    }
    EXPECT_GT(moved, nv / 2);
    ASSERT_EQ(st.vel_log_sigma.size(), std::size_t(nv));
  } else {
    for (int i = 0; i < nv; ++i) ASSERT_EQ(p.sigma[i], float(m.sigma[i]));  // fixed
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuGaussianCdStep,
                         ::testing::Values(gaussian_case{1, false, false, 1}, gaussian_case{2, true, false, 1},
                                           gaussian_case{1, true, true, 1}, gaussian_case{2, false, true, 3},
                                           gaussian_case{1, true, false, 3}, gaussian_case{1, false, false, 1, true},
                                           gaussian_case{2, true, true, 3, true}),
                         [](const auto& info) {
                           return std::string(info.param.pcd ? "PCD" : "CD") + std::to_string(info.param.k) +
                                  (info.param.sample ? "_sampled" : "_mean_field") + "_" +
                                  std::to_string(info.param.threads) + "_threads" +
                                  (info.param.learn_sigma ? "_learned_sigma" : "");
                         });

TEST(CpuBackend, DrawsItsUniformsFromPhiloxWithTheGivenSeed) {
  // The backend's update equals cpu_cd_step fed by a host Philox generator with the same seed:
  // the contract the GPU backend will be tested against.
  rbm::cd_config c;
  c.nv = 19;
  c.nh = 11;
  c.k = 2;
  c.seed = 4242;
  std::vector<std::uint8_t> batch(7 * 19);
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<std::uint8_t>((i * 37) % 256);
  rbm::model_params p0 = rbm::init_params(19, 11, batch.data(), 7, 5, false);
  rbm::cpu_backend be(c);
  be.set_params(p0);
  rbm::train_on(be, rbm::rows_view::of(batch.data(), 7, 19));
  be.step(std::vector<int>{0, 1, 2, 3, 4, 5, 6}.data(), 7);

  rbm::cpu::philox_stream gen(4242);
  rbm::model_params p = p0;
  rbm::cd_state st;
  rbm::cd_workspace ws;
  rbm::cpu::thread_team team(be.threads());  // the same split, hence the same rounding
  ws.team = &team;
  std::vector<float> v0(batch.size());
  for (std::size_t i = 0; i < v0.size(); ++i) v0[i] = rbm::pixel_to_unit(batch[i]);
  double err_sum = 0;
  for (int rep = 0; rep < 2; ++rep) {
    std::vector<float> u(rbm::cd_uniform_count(7, 19, 11, 2));
    gen.uniform(u.data(), u.size());
    err_sum += rbm::cpu_cd_step(p, st, v0.data(), 7, u.data(), c, ws);
  }
  EXPECT_EQ(be.params().w, p.w);
  EXPECT_EQ(be.params().vb, p.vb);
  EXPECT_EQ(be.params().hb, p.hb);
  // The backend's running error is the mean over both updates' pixels of what each step returned.
  const rbm::train_sums sums = be.take_sums();
  EXPECT_EQ(sums.values, 2.0 * 7 * 19);
  EXPECT_NEAR(sums.reconstruction_error(), err_sum / 2, 1e-7);
  EXPECT_EQ(be.take_sums().values, 0.0);  // taken: the next sums start afresh

  // step reads exactly the rows it is given: rows 6, 0, 3, 3 of a set equal an update on a copy of them.
  std::vector<std::uint8_t> set(7 * 19);
  for (std::size_t i = 0; i < set.size(); ++i) set[i] = static_cast<std::uint8_t>((i * 101 + 7) % 256);
  const std::vector<int> idx = {6, 0, 3, 3};
  std::vector<std::uint8_t> picked;
  for (int r : idx) picked.insert(picked.end(), set.begin() + r * 19, set.begin() + (r + 1) * 19);
  rbm::cpu_backend by_index(c), by_rows(c);
  by_index.set_params(p0);
  by_rows.set_params(p0);
  by_index.attach(rbm::rows_view::of(set.data(), 7, 19));
  by_index.step(idx.data(), 4);
  rbm::train_on(by_rows, rbm::rows_view::of(picked.data(), 4, 19));
  EXPECT_EQ(by_index.params().w, by_rows.params().w);
  EXPECT_EQ(by_index.params().vb, by_rows.params().vb);
  EXPECT_NE(by_index.params().w, p0.w);
}

TEST(CpuBackend, EvaluateMatchesADoubleReferenceOnAnyThreadCount) {
  // Three chunks (500, 500, 234 rows), dealt to 1 or 3 threads; everything recomputed in double here
  // with the evaluation sequence's uniforms (chunk c from element c * 500 * (nh + nv): h, then v).
  const int nv = 29, nh = 17, rows = 1234;
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> pixel(0, 255);
  const rbm::model_params p = rbm_test::random_model(nv, nh, 0.7f, 78);
  std::vector<std::uint8_t> data(std::size_t(rows) * nv);
  for (auto& x : data) x = static_cast<std::uint8_t>(pixel(rng) < 128 ? 0 : pixel(rng));
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.seed = 31;

  double fe = 0, err_mf = 0, err_s = 0;
  int ambiguous = 0;
  for (int start = 0; start < rows; start += rbm::eval_chunk) {
    const int b = std::min(rbm::eval_chunk, rows - start);
    std::vector<float> u(std::size_t(b) * (nh + nv));
    rbm::cpu::philox_uniforms(c.seed ^ rbm::eval_seed_salt, std::uint64_t(start) * (nh + nv), u.data(), u.size());
    auto draw = [&](double prob, float uu) {
      if (std::fabs(prob - uu) < 1e-5) ++ambiguous;
      return uu < prob ? 1.0 : 0.0;
    };
    for (int r = 0; r < b; ++r) {
      std::vector<double> v(nv), h(nh), hs(nh);
      for (int i = 0; i < nv; ++i) v[i] = data[std::size_t(start + r) * nv + i] / 255.0;
      for (int i = 0; i < nv; ++i) fe -= v[i] * p.vb[i];
      for (int j = 0; j < nh; ++j) {
        double a = p.hb[j];
        for (int i = 0; i < nv; ++i) a += v[i] * p.w[i * nh + j];
        fe -= std::log1p(std::exp(a));
        h[j] = sig(a);
        hs[j] = draw(h[j], u[std::size_t(r) * nh + j]);
      }
      for (int i = 0; i < nv; ++i) {
        double a = p.vb[i], as = p.vb[i];
        for (int j = 0; j < nh; ++j) a += h[j] * p.w[i * nh + j], as += hs[j] * p.w[i * nh + j];
        err_mf += (v[i] - sig(a)) * (v[i] - sig(a));
        const double vs = draw(sig(as), u[std::size_t(b) * nh + std::size_t(r) * nv + i]);
        err_s += (v[i] - vs) * (v[i] - vs);
      }
    }
  }
  const double pixels = double(rows) * nv;
  const int saved = openblas_get_num_threads();
  std::vector<rbm::eval_result> results;
  for (int threads : {1, 3}) {
    openblas_set_num_threads(threads);
    rbm::cpu_backend be(c);
    openblas_set_num_threads(saved);
    ASSERT_EQ(be.threads(), threads);
    be.set_params(p);
    results.push_back(be.evaluate(rbm::rows_view::of(data.data(), rows, nv)));
    const auto& e = results.back();
    EXPECT_EQ(e.samples, rows);
    EXPECT_NEAR(e.free_energy, fe / rows, 1e-4 * std::fabs(fe / rows)) << threads << " threads";
    EXPECT_NEAR(e.err_mean_field, err_mf / pixels, 1e-6) << threads << " threads";
    // A uniform within rounding of its probability may flip a state: allow one pixel per such draw.
    EXPECT_NEAR(e.err_sampled, err_s / pixels, (ambiguous + 0.5) / pixels) << threads << " threads";
  }
  // The same chunks and products on either count: only the order of the final sums differs.
  EXPECT_NEAR(results[0].err_sampled, results[1].err_sampled, 1e-12);
  EXPECT_NEAR(results[0].err_mean_field, results[1].err_mean_field, 1e-12);
  EXPECT_NEAR(results[0].free_energy, results[1].free_energy, 1e-9);
}

TEST(CpuBackend, InitialisationFollowsHintonsGuide) {
  const int nv = 4, nh = 3000, rows = 2;
  const std::vector<std::uint8_t> data = {0, 255, 51, 255, 0, 255, 51, 0};  // means 0, 1, 0.2, 0.5
  const rbm::model_params p = rbm::init_params(nv, nh, data.data(), rows, 7, false);
  EXPECT_NEAR(p.vb[0], std::log(0.001 / 0.999), 1e-5);  // clipped
  EXPECT_NEAR(p.vb[1], std::log(0.999 / 0.001), 1e-5);
  EXPECT_NEAR(p.vb[2], std::log(0.2 / 0.8), 1e-5);
  EXPECT_NEAR(p.vb[3], 0.0, 1e-5);
  double s = 0, s2 = 0;
  for (float w : p.w) s += w, s2 += double(w) * w;
  const double n = double(p.w.size()), mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 5 * 0.01 / std::sqrt(n));
  EXPECT_NEAR(sd, 0.01, 0.0005);
  for (float b : p.hb) EXPECT_EQ(b, 0.0f);
  const rbm::model_params z = rbm::init_params(nv, nh, data.data(), rows, 7, true);
  for (float w : z.w) ASSERT_EQ(w, 0.0f);
}

}  // namespace
