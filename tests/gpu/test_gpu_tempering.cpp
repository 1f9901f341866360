// Parallel tempering on the device (cd_config::tempering; tempering_kernels.cu and
// model::impl::enqueue_tempered_chains) against the CPU backend's (tests/test_tempering.cpp holds that
// one to a naive double reference): three updates of the same rows with the same draws for Bernoulli,
// sampled Gaussian (learned sigma, the CPU's defaults for it), categorical and ReLU-hidden models, SGD
// and Adam; the tempered chains, the generator's position and a saved state carried across backends.
#include <cmath>
#include <random>
#include <vector>

#include "gpu_test.hpp"

using namespace rbm_gpu_test;

namespace {

struct tempering_case {
  const char* name;
  rbm::unit_kind visible;
  int replicas, k;
  rbm::optimizer rule = rbm::optimizer::sgd;
  bool learn_sigma = false;
  rbm::unit_kind hidden = rbm::unit_kind::bernoulli;
};

class GpuTempering : public ::testing::TestWithParam<tempering_case> {};

TEST_P(GpuTempering, AgreesWithTheCpuBackend) {
  RBM_REQUIRE_GPU();
  const tempering_case c = GetParam();
  const bool categorical = c.visible == rbm::unit_kind::categorical;
  const int q = 3, nv = categorical ? 8 * q : 27, nh = 11, rows = 9, n = 3 * rows;
  rbm::cd_config cfg;
  cfg.nv = nv;
  cfg.nh = nh;
  cfg.k = c.k;
  cfg.tempering = c.replicas;
  cfg.visible = c.visible;
  cfg.states = categorical ? q : 0;
  cfg.visible_sample = c.visible == rbm::unit_kind::gaussian;  // tempering of Gaussian units samples them
  cfg.learn_sigma = c.learn_sigma;
  cfg.hidden = c.hidden;
  cfg.update_rule = c.rule;
  cfg.lr = c.rule == rbm::optimizer::adam ? 0.01f : (c.hidden == rbm::unit_kind::bernoulli ? 0.05f : 0.01f);
  cfg.momentum = 0.5f;
  cfg.seed = 29;
  std::mt19937 rng(7);
  rbm::model_params p0(nv, nh, c.visible);
  p0.hidden = c.hidden;
  p0.states = cfg.states;
  p0.w = random_vector(p0.w.size(), rng, -0.3f, 0.3f);
  p0.vb = random_vector(nv, rng, -0.5f, 0.5f);
  p0.hb = random_vector(nh, rng, -0.5f, 0.5f);
  if (p0.gaussian()) p0.sigma = random_vector(nv, rng, 0.7f, 1.4f);
  std::vector<float> values(std::size_t(n) * nv, 0.0f);
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < (categorical ? nv / q : nv); ++i) {
      float* row = values.data() + std::size_t(r) * nv;
      if (categorical)
        row[i * q + rng() % q] = 1.0f;
      else
        row[i] = c.visible == rbm::unit_kind::gaussian ? float(rng() % 1000) / 250.0f - 2.0f : float(rng() % 2);
    }
  backend_pair both(cfg, rows, "on", p0, rbm::rows_view::of(values.data(), n, nv));
  const std::vector<int> idx = both.step_both(n, rows, 3, {}, rng);
  const rbm::model_params pc = both.cpu.params(), pg = both.gpu.params();
  EXPECT_LT(max_diff(pg.w, pc.w), 2e-5) << "W";
  EXPECT_LT(max_diff(pg.vb, pc.vb), 2e-5) << "visible biases";
  EXPECT_LT(max_diff(pg.hb, pc.hb), 2e-5) << "hidden biases";
  if (c.learn_sigma) EXPECT_LT(max_diff(pg.sigma, pc.sigma), 2e-5) << "sigma";
  EXPECT_GT(max_diff(pg.w, p0.w), 1e-4) << "it trained";
  const rbm::training_state sc = both.cpu.state(), sg = both.gpu.state();
  EXPECT_EQ(sg.chains, sc.chains);
  EXPECT_EQ(sg.rng_position, sc.rng_position);
  EXPECT_TRUE(sg.chain_h.empty());
  ASSERT_EQ(sg.tempered_v.size(), std::size_t(rows) * c.replicas * nv);
  EXPECT_LT(max_diff(sg.tempered_v, sc.tempered_v), 1e-5) << "the tempered visible states (swapped alike)";
  EXPECT_LT(max_diff(sg.tempered_h, sc.tempered_h), 1e-5) << "the tempered hidden states";
  const rbm::train_sums tg = both.gpu.take_sums(), tc = both.cpu.take_sums();
  EXPECT_NEAR(tg.reconstruction_error(), tc.reconstruction_error(), 1e-6);
  // The state goes across: the GPU continues from the CPU's chains as the CPU does.
  both.gpu.set_params(pc);
  both.gpu.set_state(sc);
  both.cpu.step(idx.data(), rows);
  both.gpu.step(idx.data(), rows);
  EXPECT_LT(max_diff(both.gpu.params().w, both.cpu.params().w), 2e-5) << "after set_state";
  EXPECT_LT(max_diff(both.gpu.state().tempered_h, both.cpu.state().tempered_h), 1e-5) << "after set_state";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GpuTempering,
    ::testing::Values(tempering_case{"bernoulli_r4_k1", rbm::unit_kind::bernoulli, 4, 1},
                      tempering_case{"bernoulli_r3_k2_adam", rbm::unit_kind::bernoulli, 3, 2, rbm::optimizer::adam},
                      tempering_case{"gaussian_learned_sigma_r5", rbm::unit_kind::gaussian, 5, 1, rbm::optimizer::sgd,
                                     true},
                      tempering_case{"categorical_r3", rbm::unit_kind::categorical, 3, 1},
                      tempering_case{"relu_hidden_r4", rbm::unit_kind::bernoulli, 4, 1, rbm::optimizer::sgd, false,
                                     rbm::unit_kind::relu}),
    [](const ::testing::TestParamInfo<tempering_case>& i) { return std::string(i.param.name); });

}  // namespace
