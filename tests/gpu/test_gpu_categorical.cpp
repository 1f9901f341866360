// Categorical (Potts) visible units on the device against the CPU: the sampling kernel's means and
// draws, the CD step (CD-k, PCD, Adam; rows resident or streamed) and the label step's joint chain, each
// over a few batches of one-hot rows with the same draws.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gpu_test.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cuda_backend.hpp"
#include "rbm/kernels.hpp"

using namespace rbm_gpu_test;

namespace {

TEST(GpuCategorical, SamplingKernelMatchesTheCpuPasses) {
  RBM_REQUIRE_GPU();
  const int rows = 37, sites = 11, q = 5;
  std::mt19937 rng(4);
  const auto x = random_vector(std::size_t(rows) * sites * q, rng, -6.0f, 6.0f);
  const auto vb = random_vector(std::size_t(sites) * q, rng, -1.0f, 1.0f);
  const auto u = random_vector(std::size_t(rows) * sites, rng, 0.0f, 1.0f);
  std::vector<float> means = x;
  rbm::cpu::categorical_mean_rows(means.data(), vb.data(), rows, sites, q);
  std::vector<float> states = means;
  rbm::cpu::categorical_draw_rows(states.data(), u.data(), rows, sites, q);
  rbm::cuda_stream st;
  const auto s = st.view();
  auto dx = upload(x, s);
  const auto dvb = upload(vb, s), du = upload(u, s);
  rbm::categorical_sample(dx.data(), dvb.data(), du.data(), rows, sites, q, s);
  const auto got = download(dx, s);
  int differing = 0;
  for (std::size_t g = 0; g < std::size_t(rows) * sites; ++g) {
    double c = 0;  // a uniform within rounding of a cumulative probability may pick the neighbour
    bool near_edge = false;
    for (int k = 0; k < q - 1; ++k) near_edge = near_edge || std::fabs(u[g] - (c += means[g * q + k])) < 1e-6;
    for (int k = 0; k < q; ++k)
      if (got[g * q + k] != states[g * q + k] && !near_edge) ++differing;
  }
  EXPECT_EQ(differing, 0);
  EXPECT_NEAR(std::accumulate(got.begin(), got.end(), 0.0), double(rows) * sites, 0.0);  // one-hot
}

struct categorical_case {
  const char* name;
  int k;
  bool pcd;
  rbm::optimizer rule;
  const char* resident;
  float disc, gen;  // a label step where either is positive; else the plain CD step
};

class GpuCategoricalStep : public ::testing::TestWithParam<categorical_case> {};

// Three updates of the same one-hot batches on both backends: parameters, momentum, chains, the
// generator's position, the reconstruction error.
TEST_P(GpuCategoricalStep, AgreesWithTheCpuBackend) {
  RBM_REQUIRE_GPU();
  const categorical_case c = GetParam();
  const int sites = 9, q = 4, nv = sites * q, nh = 13, rows = 11, n = 3 * rows, kc = 3;
  const bool labels = c.disc > 0 || c.gen > 0;
  rbm::cd_config cfg;
  cfg.nv = nv;
  cfg.nh = nh;
  cfg.k = c.k;
  cfg.pcd = c.pcd;
  cfg.visible = rbm::unit_kind::categorical;
  cfg.states = q;
  cfg.lr = c.rule == rbm::optimizer::adam ? 0.01f : 0.05f;
  cfg.momentum = 0.5f;
  cfg.weight_decay = 1e-3f;
  cfg.seed = 17;
  cfg.update_rule = c.rule;
  std::mt19937 rng(6);
  rbm::model_params p0(nv, nh, rbm::unit_kind::categorical);
  p0.states = q;
  p0.w = random_vector(p0.w.size(), rng, -0.4f, 0.4f);
  p0.vb = random_vector(nv, rng, -0.5f, 0.5f);
  p0.hb = random_vector(nh, rng, -0.5f, 0.5f);
  if (labels) {
    p0.add_labels(kc);
    p0.label_w = random_vector(p0.label_w.size(), rng, -1.0f, 1.0f);
    p0.label_b = random_vector(kc, rng, -0.5f, 0.5f);
  }
  std::vector<float> onehot(std::size_t(n) * nv, 0.0f);
  std::vector<std::uint8_t> y(n);
  for (int r = 0; r < n; ++r) {
    for (int s = 0; s < sites; ++s) onehot[std::size_t(r) * nv + s * q + rng() % q] = 1.0f;
    y[r] = static_cast<std::uint8_t>(rng() % kc);
  }
  backend_pair both(cfg, rows, c.resident, p0, rbm::rows_view::of(onehot.data(), n, nv, labels ? y.data() : nullptr));
  rbm::cpu_backend& cpu = both.cpu;
  rbm::cuda_backend& gpu = both.gpu;
  both.step_both(n, rows, 3, labels ? rbm::step_objective{c.gen, c.disc} : rbm::step_objective{}, rng);
  const rbm::model_params pc = cpu.params(), pg = gpu.params();
  EXPECT_EQ(pg.visible, rbm::unit_kind::categorical);
  EXPECT_EQ(pg.states, q);
  EXPECT_LT(max_diff(pg.w, pc.w), 2e-5) << "W";
  EXPECT_LT(max_diff(pg.vb, pc.vb), 2e-5) << "visible biases";
  EXPECT_LT(max_diff(pg.hb, pc.hb), 2e-5) << "hidden biases";
  EXPECT_GT(max_diff(pg.w, p0.w), 1e-4) << "it trained";
  if (labels) EXPECT_LT(max_diff(pg.label_w, pc.label_w), 2e-5) << "label weights";
  const rbm::training_state sc = cpu.state(), sg = gpu.state();
  EXPECT_EQ(sg.rng_position, sc.rng_position);
  EXPECT_EQ(sg.chains, sc.chains);
  EXPECT_LT(max_diff(sg.chain_h, sc.chain_h), 1e-6) << "PCD chains (states)";
  EXPECT_LT(max_diff(sg.vel_w, sc.vel_w), 2e-5);
  const rbm::train_sums tg = gpu.take_sums(), tc = cpu.take_sums();
  EXPECT_NEAR(tg.reconstruction_error(), tc.reconstruction_error(), 1e-6);
  EXPECT_GT(tc.reconstruction_error(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GpuCategoricalStep,
    ::testing::Values(categorical_case{"cd2_resident", 2, false, rbm::optimizer::sgd, "on", 0, 0},
                      categorical_case{"pcd1_streamed", 1, true, rbm::optimizer::sgd, "off", 0, 0},
                      categorical_case{"cd1_adam", 1, false, rbm::optimizer::adam, "on", 0, 0},
                      categorical_case{"labels_hybrid", 1, false, rbm::optimizer::sgd, "on", 1.0f, 0.1f},
                      categorical_case{"labels_generative_pcd2", 2, true, rbm::optimizer::sgd, "off", 0.0f, 1.0f}),
    [](const ::testing::TestParamInfo<categorical_case>& i) { return std::string(i.param.name); });

}  // namespace
