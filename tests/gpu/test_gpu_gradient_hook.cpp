// The gradient hook on the GPU (rbm::model::set_gradient_hook; the CUDA backend's host hook around it)
// against the CPU backend's: the same gradient handed over, what the hook leaves there applied (SGD
// with momentum and decay, Adam; Bernoulli and Gaussian units, learned sigma; CD and PCD), a zeroed gradient moving
// nothing, and a device-side hook changing the gradient by work queued on the model's stream.
#include <cuda_runtime_api.h>

#include <cmath>
#include <random>
#include <vector>

#include "gpu_test.hpp"
#include "rbm/model.hpp"

using namespace rbm_gpu_test;

namespace {

struct hook_case {
  const char* name;
  rbm::unit_kind visible;
  rbm::optimizer rule;
  bool pcd;
  bool learn_sigma = false;
};

class GpuGradientHook : public ::testing::TestWithParam<hook_case> {};

// Each backend's hook keeps the first update's gradient and doubles every later one's hidden-bias
// gradient; the gradients seen and the parameters after three updates agree.
TEST_P(GpuGradientHook, SeesTheCpuGradientAndAppliesWhatItLeaves) {
  RBM_REQUIRE_GPU();
  const hook_case c = GetParam();
  const int nv = 29, nh = 13, rows = 11, n = 3 * rows;
  rbm::cd_config cfg;
  cfg.nv = nv;
  cfg.nh = nh;
  cfg.k = 2;
  cfg.pcd = c.pcd;
  cfg.visible = c.visible;
  cfg.update_rule = c.rule;
  cfg.lr = c.rule == rbm::optimizer::adam ? 0.01f : 0.05f;
  cfg.momentum = 0.5f;
  cfg.weight_decay = 1e-3f;
  cfg.seed = 23;
  std::mt19937 rng(5);
  rbm::model_params p0(nv, nh, c.visible);
  p0.w = random_vector(p0.w.size(), rng, -0.3f, 0.3f);
  p0.vb = random_vector(nv, rng, -0.5f, 0.5f);
  p0.hb = random_vector(nh, rng, -0.5f, 0.5f);
  if (p0.gaussian()) p0.sigma = random_vector(nv, rng, 0.7f, 1.4f);
  cfg.learn_sigma = c.learn_sigma;
  cfg.visible_sample = c.learn_sigma;  // learned sigma samples the reconstructions
  std::vector<float> values(std::size_t(n) * nv);
  for (float& x : values) x = c.visible == rbm::unit_kind::gaussian ? float(rng() % 1000) / 250.0f - 2.0f : float(rng() % 2);
  backend_pair both(cfg, rows, "on", p0, rbm::rows_view::of(values.data(), n, nv));
  std::vector<float> first[2];
  int calls[2] = {0, 0};
  auto hook_for = [&](int who) {
    return [&, who](rbm::gradient_view& g) {
      EXPECT_EQ(g.nv, nv);
      EXPECT_EQ(g.rows, rows);
      EXPECT_EQ(g.log_sigma != nullptr, c.learn_sigma);
      if (calls[who]++ == 0) {
        first[who].assign(g.w, g.w + std::size_t(nv) * nh);
        first[who].insert(first[who].end(), g.vb, g.vb + nv);
        first[who].insert(first[who].end(), g.hb, g.hb + nh);
        if (g.log_sigma != nullptr) first[who].insert(first[who].end(), g.log_sigma, g.log_sigma + nv);
      } else {
        for (int j = 0; j < nh; ++j) g.hb[j] *= 2.0f;
      }
    };
  };
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = i;
  const rbm::step_objective on_cpu{1, 0, hook_for(0)}, on_gpu{1, 0, hook_for(1)};
  for (int b = 0; b < 3; ++b) {
    both.cpu.step(idx.data() + b * rows, rows, on_cpu);
    both.gpu.step(idx.data() + b * rows, rows, on_gpu);
  }
  EXPECT_EQ(calls[0], 3);
  EXPECT_EQ(calls[1], 3);
  EXPECT_LT(max_diff(first[1], first[0]), 2e-5) << "the first update's gradient";
  const rbm::model_params pc = both.cpu.params(), pg = both.gpu.params();
  EXPECT_LT(max_diff(pg.w, pc.w), 2e-5) << "W";
  EXPECT_LT(max_diff(pg.vb, pc.vb), 2e-5) << "visible biases";
  EXPECT_LT(max_diff(pg.hb, pc.hb), 2e-5) << "hidden biases";
  if (c.learn_sigma) EXPECT_LT(max_diff(pg.sigma, pc.sigma), 2e-5) << "sigma";
  const rbm::training_state sc = both.cpu.state(), sg = both.gpu.state();
  EXPECT_LT(max_diff(sg.vel_hb, sc.vel_hb), 2e-5);
  EXPECT_EQ(sg.rng_position, sc.rng_position);
  if (c.rule == rbm::optimizer::adam) EXPECT_EQ(sg.updates, sc.updates);
  // Without a hook the backend goes back to the fused update (and its graphs).
  both.gpu.step(idx.data(), rows);
  both.cpu.step(idx.data(), rows);
  EXPECT_EQ(calls[1], 3);
  EXPECT_LT(max_diff(both.gpu.params().w, both.cpu.params().w), 2e-5) << "W after a step without the hook";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GpuGradientHook,
    ::testing::Values(hook_case{"bernoulli_sgd", rbm::unit_kind::bernoulli, rbm::optimizer::sgd, false},
                      hook_case{"gaussian_sgd_pcd", rbm::unit_kind::gaussian, rbm::optimizer::sgd, true},
                      hook_case{"bernoulli_adam", rbm::unit_kind::bernoulli, rbm::optimizer::adam, false},
                      hook_case{"gaussian_learned_sigma", rbm::unit_kind::gaussian, rbm::optimizer::sgd, false, true},
                      hook_case{"gaussian_learned_sigma_adam", rbm::unit_kind::gaussian, rbm::optimizer::adam, false,
                                true}),
    [](const ::testing::TestParamInfo<hook_case>& i) { return std::string(i.param.name); });

// The device library's own hook: zeroing W's gradient by a memset queued on the model's stream (no
// synchronisation) leaves W as it was while the biases move; SGD without momentum or decay.
TEST(GpuGradientHookModel, AHookQueuedOnTheStreamChangesTheUpdate) {
  RBM_REQUIRE_GPU();
  const int nv = 20, nh = 8, rows = 16;
  rbm::cuda_stream st;
  rbm::model_options o;
  o.cd.nv = nv;
  o.cd.nh = nh;
  o.cd.lr = 0.1f;
  o.cd.momentum = 0.0f;
  o.cd.weight_decay = 0.0f;  // else W shrinks with a zero gradient
  o.cd.seed = 3;
  o.max_batch = rows;
  rbm::model m(o, st.view());
  std::mt19937 rng(2);
  const auto w = random_vector(std::size_t(nv) * nh, rng, -0.2f, 0.2f), vb = random_vector(nv, rng, -0.3f, 0.3f),
             hb = random_vector(nh, rng, -0.3f, 0.3f);
  m.set_params(w.data(), vb.data(), hb.data());
  int calls = 0;
  m.set_gradient_hook([&](const rbm::model::gradient& g) {
    ++calls;
    EXPECT_EQ(g.stream.get(), st.get());
    RBM_CUDA_CHECK(cudaMemsetAsync(g.w, 0, std::size_t(g.nv) * g.nh * sizeof(float), g.stream.get()));
  });
  std::vector<float> v(std::size_t(rows) * nv);
  for (float& x : v) x = float(rng() % 2);
  const auto dv = upload(v, st.view());
  for (int i = 0; i < 3; ++i) m.train_step(dv.data(), rows);
  std::vector<float> w1(w.size()), vb1(nv), hb1(nh);
  m.get_params(w1.data(), vb1.data(), hb1.data());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(w1, w) << "W's gradient was zeroed";
  EXPECT_GT(max_diff(vb1, vb), 1e-4) << "the visible biases moved";
  m.set_gradient_hook({});
  m.train_step(dv.data(), rows);
  m.get_params(w1.data(), vb1.data(), hb1.data());
  EXPECT_EQ(calls, 3);
  EXPECT_GT(max_diff(w1, w), 1e-5) << "without the hook W moves";
}

}  // namespace
