// --optimizer adam: the CD and label steps' Adam update against its closed form on the step's own
// gradient (read off an SGD step at rate 1, no momentum, no decay: the same GEMMs), over two updates;
// bit-exact resume with the moments in the checkpoint; the options' checks; a run that learns.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/trainer.hpp"

namespace {

// What Adam must do to one parameter x with gradient g at update t, from moments m, s (double).
struct adam_ref {
  double m = 0, s = 0;
  double step(double g, int t, double lr) {
    m = 0.9 * m + 0.1 * g;
    s = 0.999 * s + 0.001 * g * g;
    const double rate = lr * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    return rate * m / (std::sqrt(s) + 1e-8);
  }
};

rbm::cd_config gradient_config(rbm::cd_config c) {  // an SGD step whose velocity is the gradient
  c.update_rule = rbm::optimizer::sgd;
  c.lr = 1.0f;
  c.momentum = 0.0f;
  c.weight_decay = 0.0f;
  return c;
}

struct cd_case {
  bool gaussian;
};
class AdamCdStep : public ::testing::TestWithParam<cd_case> {};

TEST_P(AdamCdStep, FollowsTheClosedFormOnTheStepsOwnGradient) {
  const bool gauss = GetParam().gaussian;
  const int nv = 13, nh = 7, rows = 9;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = 2;
  c.lr = 0.01f;
  c.weight_decay = 1e-3f;
  c.update_rule = rbm::optimizer::adam;
  if (gauss) {
    c.visible = rbm::unit_kind::gaussian;
    c.learn_sigma = true;
  }
  rbm::model_params p = rbm_test::random_model(nv, nh, 0.5f, 7);
  if (gauss) {
    p.visible = rbm::unit_kind::gaussian;
    p.sigma.assign(nv, 1.0f);
    for (int i = 0; i < nv; ++i) p.sigma[i] = 0.6f + 0.05f * i;
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unif(0.0f, 1.0f);
  std::vector<float> v0(std::size_t(rows) * nv);
  for (auto& x : v0) x = gauss ? 4 * unif(rng) - 2 : unif(rng);
  rbm::cpu::philox_stream gen(5);
  rbm::cd_state st;
  rbm::cd_workspace ws;
  std::vector<adam_ref> rw(p.w.size()), rvb(nv), rhb(nh), rz(nv);
  for (int t = 1; t <= 2; ++t) {
    std::vector<float> draws(rbm::make_draw_layout(rows, c).total());
    gen.uniform(draws.data(), draws.size());
    // The gradient at the current parameters with these draws.
    rbm::model_params g = p;
    rbm::cd_state gs;
    rbm::cd_workspace gws;
    rbm::cpu_cd_step(g, gs, v0.data(), rows, draws.data(), gradient_config(c), gws);
    const rbm::model_params before = p;
    rbm::cpu_cd_step(p, st, v0.data(), rows, draws.data(), c, ws);
    EXPECT_EQ(st.updates, std::uint64_t(t));
    for (std::size_t i = 0; i < p.w.size(); ++i) {
      const double want = before.w[i] + rw[i].step(gs.vel_w[i], t, c.lr) - double(c.lr) * c.weight_decay * before.w[i];
      ASSERT_NEAR(p.w[i], want, 1e-6) << "W[" << i << "] at update " << t;
    }
    for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], before.vb[i] + rvb[i].step(gs.vel_vb[i], t, c.lr), 1e-6) << i;
    for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], before.hb[j] + rhb[j].step(gs.vel_hb[j], t, c.lr), 1e-6) << j;
    if (gauss)
      for (int i = 0; i < nv; ++i) {
        const double z = rz[i].step(gs.vel_log_sigma[i], t, c.lr);
        ASSERT_NEAR(p.sigma[i], before.sigma[i] * std::exp(z), 1e-6) << "sigma[" << i << "]";
      }
  }
  // Adam's first step moves a weight by about lr against the sign of nothing but its gradient.
  EXPECT_GT(std::fabs(rw[0].m), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Units, AdamCdStep, ::testing::Values(cd_case{false}, cd_case{true}),
                         [](const auto& info) { return info.param.gaussian ? "gaussian_learned_sigma" : "bernoulli"; });

TEST(AdamLabelStep, FollowsTheClosedFormOnTheStepsOwnGradient) {
  const int nv = 11, nh = 6, kc = 3, rows = 8;
  rbm::model_params p = rbm_test::random_model(nv, nh, 0.5f, 9);
  p.add_labels(kc);
  std::mt19937 rng(4);
  std::normal_distribution<float> n01(0.0f, 0.3f);
  for (auto& x : p.label_w) x = n01(rng);
  std::uniform_real_distribution<float> unif(0.0f, 1.0f);
  std::vector<float> v(std::size_t(rows) * nv);
  for (auto& x : v) x = unif(rng);
  std::vector<int> y(rows);
  for (int r = 0; r < rows; ++r) y[r] = r % kc;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.lr = 0.02f;
  c.weight_decay = 1e-3f;
  c.update_rule = rbm::optimizer::adam;
  const rbm::label_uniforms uniforms = [](std::size_t offset, std::size_t n, float* out) {
    rbm::cpu::philox_uniforms(21, offset, out, n);
  };
  rbm::training_state st;
  rbm::classification_workspace ws;
  std::vector<adam_ref> rw(p.w.size()), rvb(nv), rhb(nh), ru(p.label_w.size()), rb(kc);
  for (int t = 1; t <= 2; ++t) {
    rbm::model_params g = p;
    rbm::training_state gs;
    rbm::cpu_label_step(g, gs, v.data(), y.data(), rows, gradient_config(c), 1.0f, 0.5f, uniforms, ws);
    const rbm::model_params before = p;
    rbm::cpu_label_step(p, st, v.data(), y.data(), rows, c, 1.0f, 0.5f, uniforms, ws);
    const double decay = double(c.lr) * c.weight_decay;
    for (std::size_t i = 0; i < p.w.size(); ++i)
      ASSERT_NEAR(p.w[i], before.w[i] + rw[i].step(gs.vel_w[i], t, c.lr) - decay * before.w[i], 1e-6) << "W " << i;
    for (std::size_t i = 0; i < p.label_w.size(); ++i)
      ASSERT_NEAR(p.label_w[i], before.label_w[i] + ru[i].step(gs.vel_label_w[i], t, c.lr) - decay * before.label_w[i],
                  1e-6)
          << "label_W " << i;
    for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], before.vb[i] + rvb[i].step(gs.vel_vb[i], t, c.lr), 1e-6);
    for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], before.hb[j] + rhb[j].step(gs.vel_hb[j], t, c.lr), 1e-6);
    for (int k = 0; k < kc; ++k) ASSERT_NEAR(p.label_b[k], before.label_b[k] + rb[k].step(gs.vel_label_b[k], t, c.lr), 1e-6);
  }
  EXPECT_EQ(st.updates, 2u);
}

rbm::train_options adam_options() {
  rbm::train_options o;
  o.cd.nh = 24;
  o.cd.seed = 5;
  o.cd.update_rule = rbm::optimizer::adam;
  o.cd.lr = 0.01f;
  o.batch = 20;
  o.device = "cpu";
  return o;
}

TEST(AdamTraining, ResumesBitForBitWithItsMomentsInTheCheckpoint) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 600);
  rbm::truncate(d.test, 200);
  auto o = adam_options();
  o.out_dir = rbm_test::fresh_dir("adam-straight").string();
  o.epochs = 4;
  const auto straight = rbm::train(d, o);
  const auto dir = rbm_test::fresh_dir("adam-resumed");
  const auto resumed = rbm_test::train_then_resume(d, adam_options(), dir.string(), 2, 4);
  EXPECT_EQ(resumed.params.w, straight.params.w);
  EXPECT_EQ(resumed.params.hb, straight.params.hb);
  EXPECT_EQ(resumed.state.sq_w, straight.state.sq_w);
  EXPECT_EQ(resumed.state.updates, 120u);  // 4 epochs of 30 batches
  const auto t = rbm::read_tensors((dir / "model.safetensors").string());
  EXPECT_EQ(t.tensors.at("sq_W").shape, (std::vector<std::int64_t>{784, 24}));
  EXPECT_EQ(t.metadata.at("updates"), "120");
  EXPECT_EQ(nlohmann::json::parse(t.metadata.at("config")).at("optimizer"), "adam");
  // It learned: the held-out mean-field reconstruction error fell by a tenth (0.0634 -> 0.0552 when written).
  EXPECT_LT(straight.history.back().test.err_mean_field, 0.9 * straight.history.front().test.err_mean_field);
}

TEST(AdamCli, DefaultsItsRateRecordsItselfAndRefusesWhatItCannotDo) {
  const auto dir = rbm_test::fresh_dir("adam-cli");
  auto r = rbm_test::run_rbm("train --optimizer adam --hidden 16 --epochs 1 --train-limit 300 --test-limit 100 "
                             "--device cpu --quiet --out " + dir.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = rbm::read_tensors((dir / "model.safetensors").string());
  const auto cfg = nlohmann::json::parse(t.metadata.at("config"));
  EXPECT_EQ(cfg.at("optimizer"), "adam");
  EXPECT_FLOAT_EQ(cfg.at("lr").get<float>(), rbm::adam_defaults::lr);
  r = rbm_test::run_rbm("train --optimizer rmsprop --epochs 1 --out " + (dir / "x").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--optimizer"), std::string::npos) << r.output;
  // The CUDA backend has Adam's steps too (tests/gpu): --device cuda is refused only for want of a GPU.
  if (!rbm_test::gpu_usable()) {
    r = rbm_test::run_rbm("train --optimizer adam --labels --device cuda --epochs 1 --out " + (dir / "y").string());
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("the device cuda was asked for, but no GPU is usable"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "y"));
  }
}

}  // namespace
