// The gradient hook (rbm/host/backend.hpp's gradient_view): the CD step's gradient handed over before
// it is applied, against the naive double reference; the update applying what the hook leaves there;
// two workers that average their gradients through it staying identical, as a data-parallel driver's
// ranks must; the trainer's option and its refusals.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "helpers.hpp"
#include "rbm/error.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/trainer.hpp"
#include "reference_cd.hpp"

namespace {

constexpr int nv = 20, nh = 9, rows = 16;

rbm::cd_config config(float momentum, rbm::optimizer rule = rbm::optimizer::sgd) {
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.lr = rule == rbm::optimizer::adam ? 0.01f : 0.1f;
  c.momentum = momentum;
  c.update_rule = rule;
  c.weight_decay = 0.0f;
  c.seed = 41;
  return c;
}

std::vector<std::uint8_t> pixels(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> d(std::size_t(n) * nv);
  for (auto& x : d) x = std::uint8_t(rng() % 256);
  return d;
}

// `batches` steps of `rows` rows of `data` (in order) on backend b, with `hook` (may be empty).
void train(rbm::backend& b, const std::vector<std::uint8_t>& data, int batches, const rbm::gradient_hook& hook) {
  b.attach(rbm::rows_view::of(data.data(), int(data.size() / nv), nv));
  std::vector<int> idx(std::size_t(batches) * rows);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = int(i);
  rbm::step_objective o;
  o.on_gradient = hook;
  for (int s = 0; s < batches; ++s) b.step(idx.data() + std::size_t(s) * rows, rows, o);
}

std::vector<float> flat(const rbm::gradient_view& g) {
  std::vector<float> v(g.w, g.w + std::size_t(g.nv) * g.nh);
  v.insert(v.end(), g.vb, g.vb + g.nv);
  v.insert(v.end(), g.hb, g.hb + g.nh);
  return v;
}

// The hook sees the step's mean gradient (the double reference's update over lr, momentum 0), once
// per update; the update applies what it leaves: zeroed, nothing moves; doubled, twice the step.
TEST(GradientHook, SeesTheStepsGradientAndTheUpdateAppliesWhatItLeaves) {
  const auto data = pixels(rows, 3);
  const rbm::cd_config c = config(0.0f);
  const rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), rows, 5, false);
  rbm_test::ref_model ref = rbm_test::ref_from(p0);
  std::vector<float> u(rbm::cd_uniform_count(rows, nv, nh, 1));
  rbm::cpu::philox_uniforms(c.seed, 0, u.data(), u.size());
  std::vector<double> v0(data.size());
  for (std::size_t i = 0; i < v0.size(); ++i) v0[i] = rbm::pixel_to_unit(data[i]);
  int ambiguous = 0;
  rbm_test::ref_cd_step(ref, v0, rows, u.data(), c, ambiguous);
  ASSERT_EQ(ambiguous, 0);

  int calls = 0;
  std::vector<float> seen;
  rbm::cpu_backend b(c);
  b.set_params(p0);
  train(b, data, 1, [&](rbm::gradient_view& g) {
    ++calls;
    EXPECT_EQ(g.nv, nv);
    EXPECT_EQ(g.nh, nh);
    EXPECT_EQ(g.rows, rows);
    EXPECT_EQ(g.log_sigma, nullptr);
    seen = flat(g);
  });
  ASSERT_EQ(calls, 1);
  for (int i = 0; i < nv * nh; ++i) ASSERT_NEAR(seen[i], (ref.w[i] - p0.w[i]) / c.lr, 1e-5) << "W[" << i << "]";
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(seen[nv * nh + i], (ref.vb[i] - p0.vb[i]) / c.lr, 1e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j)
    ASSERT_NEAR(seen[nv * nh + nv + j], (ref.hb[j] - p0.hb[j]) / c.lr, 1e-5) << "hb[" << j << "]";

  rbm::cpu_backend zero(c), twice(c);
  zero.set_params(p0);
  twice.set_params(p0);
  train(zero, data, 1, [](rbm::gradient_view& g) {
    std::fill(g.w, g.w + std::size_t(g.nv) * g.nh, 0.0f);
    std::fill(g.vb, g.vb + g.nv, 0.0f);
    std::fill(g.hb, g.hb + g.nh, 0.0f);
  });
  EXPECT_EQ(zero.params().w, p0.w);
  EXPECT_EQ(zero.params().vb, p0.vb);
  EXPECT_EQ(zero.params().hb, p0.hb);
  train(twice, data, 1, [](rbm::gradient_view& g) {
    for (std::size_t i = 0; i < std::size_t(g.nv) * g.nh; ++i) g.w[i] *= 2;
  });
  for (int i = 0; i < nv * nh; ++i) ASSERT_NEAR(twice.params().w[i], p0.w[i] + 2 * c.lr * seen[i], 1e-6) << i;
}

// Learned sigma's gradient is in the view too: zeroing it leaves sigma where it was while W moves.
TEST(GradientHook, CarriesLearnedSigmasGradient) {
  rbm::cd_config c = config(0.5f);
  c.visible = rbm::unit_kind::gaussian;
  c.visible_sample = true;
  c.learn_sigma = true;
  c.lr = 0.01f;
  std::mt19937 rng(4);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> data(std::size_t(2) * rows * nv);
  for (float& x : data) x = n(rng);
  rbm::model_params p0(nv, nh, rbm::unit_kind::gaussian);
  for (float& w : p0.w) w = 0.1f * n(rng);
  rbm::cpu_backend b(c);
  b.set_params(p0);
  b.attach(rbm::rows_view::of(data.data(), 2 * rows, nv));
  std::vector<int> idx(std::size_t(2) * rows);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = int(i);
  rbm::step_objective o;
  double moved = 0;
  o.on_gradient = [&](rbm::gradient_view& g) {
    ASSERT_NE(g.log_sigma, nullptr);
    for (int i = 0; i < g.nv; ++i) moved += std::fabs(g.log_sigma[i]);
    std::fill(g.log_sigma, g.log_sigma + g.nv, 0.0f);
  };
  for (int s = 0; s < 2; ++s) b.step(idx.data() + std::size_t(s) * rows, rows, o);
  EXPECT_GT(moved, 1e-3) << "a gradient of log sigma to zero";
  EXPECT_EQ(b.params().sigma, p0.sigma);
  EXPECT_NE(b.params().w, p0.w);
}

// Adam's update always goes through the stored gradient: a hook that changes nothing changes no bit.
// SGD's fused update (momentum on the GEMM's beta) and the split one agree up to rounding.
TEST(GradientHook, AnIdentityHookChangesAdamNotAtAllAndSgdOnlyByRounding) {
  const auto data = pixels(3 * rows, 8);
  const rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), 3 * rows, 6, false);
  for (rbm::optimizer rule : {rbm::optimizer::adam, rbm::optimizer::sgd}) {
    rbm::cpu_backend with(config(0.5f, rule)), without(config(0.5f, rule));
    with.set_params(p0);
    without.set_params(p0);
    train(with, data, 3, [](rbm::gradient_view&) {});
    train(without, data, 3, {});
    if (rule == rbm::optimizer::adam) {
      EXPECT_EQ(with.params().w, without.params().w);
      EXPECT_EQ(with.state().sq_w, without.state().sq_w);
      EXPECT_EQ(with.state().updates, 3u);
    } else {
      for (int i = 0; i < nv * nh; ++i) ASSERT_NEAR(with.params().w[i], without.params().w[i], 1e-6) << i;
    }
  }
}

// Two workers on their own rows and draws, each averaging its gradient with the other's through the
// hook (a two-party all-reduce), apply the same updates: their parameters stay equal bit for bit, and
// the first update is the average of the two gradients the workers computed alone.
class two_party_average {
 public:
  void operator()(int me, rbm::gradient_view& g) {
    std::unique_lock<std::mutex> lock(m_);
    const std::vector<float> mine = flat(g);
    if (first_[me].empty()) first_[me] = mine;
    given_[me] = mine;
    ++deposited_[me];
    cv_.notify_all();
    cv_.wait(lock, [&] { return deposited_[1 - me] >= deposited_[me]; });
    std::vector<float> avg(mine.size());
    for (std::size_t i = 0; i < avg.size(); ++i) avg[i] = 0.5f * (given_[0][i] + given_[1][i]);  // same order on both
    ++read_[me];
    cv_.notify_all();
    cv_.wait(lock, [&] { return read_[1 - me] >= read_[me]; });  // neither overwrites its share while it is read
    const std::size_t w = std::size_t(g.nv) * g.nh;
    std::copy_n(avg.begin(), w, g.w);
    std::copy_n(avg.begin() + w, g.nv, g.vb);
    std::copy_n(avg.begin() + w + g.nv, g.nh, g.hb);
  }
  const std::vector<float>& first(int worker) const { return first_[worker]; }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<float> given_[2], first_[2];
  int deposited_[2] = {0, 0}, read_[2] = {0, 0};
};

TEST(GradientHook, TwoWorkersAveragingTheirGradientsStayIdentical) {
  const auto data = pixels(8 * rows, 12);
  const rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), 8 * rows, 7, false);
  const std::vector<std::uint8_t> half[2] = {std::vector<std::uint8_t>(data.begin(), data.begin() + 4 * rows * nv),
                                             std::vector<std::uint8_t>(data.begin() + 4 * rows * nv, data.end())};
  rbm::cd_config c[2] = {config(0.5f), config(0.5f)};
  c[1].seed = 42;  // each worker its own draws
  rbm::cpu_backend w0(c[0]), w1(c[1]);
  rbm::cpu_backend* worker[2] = {&w0, &w1};
  two_party_average all_reduce;
  std::vector<std::thread> threads;
  for (int me = 0; me < 2; ++me) {
    worker[me]->set_params(p0);
    threads.emplace_back([&, me] { train(*worker[me], half[me], 4, [&, me](rbm::gradient_view& g) { all_reduce(me, g); }); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(w0.params().w, w1.params().w);
  EXPECT_EQ(w0.params().vb, w1.params().vb);
  EXPECT_EQ(w0.params().hb, w1.params().hb);
  EXPECT_NE(all_reduce.first(0), all_reduce.first(1)) << "the workers' own gradients differ";

  // The first update alone: W = p0 + lr (g0 + g1) / 2 (momentum 0.5 on a velocity of 0).
  rbm::cpu_backend one(c[0]);
  one.set_params(p0);
  two_party_average solo;
  std::thread other([&] {
    rbm::cpu_backend b(c[1]);
    b.set_params(p0);
    train(b, half[1], 1, [&](rbm::gradient_view& g) { solo(1, g); });
  });
  train(one, half[0], 1, [&](rbm::gradient_view& g) { solo(0, g); });
  other.join();
  for (int i = 0; i < nv * nh; ++i)
    ASSERT_NEAR(one.params().w[i], p0.w[i] + c[0].lr * 0.5f * (solo.first(0)[i] + solo.first(1)[i]), 1e-7) << i;
}

TEST(GradientHook, TheTrainerCallsItEachUpdateOnEitherBackendAndRefusesWhatCannotTakeIt) {
  const auto d = rbm_test::digits_subset(300, 0);
  rbm::train_options o;
  o.cd.nh = 16;
  o.epochs = 2;
  o.batch = 50;
  o.device = "cpu";
  int calls = 0;
  o.on_gradient = [&calls](rbm::gradient_view& g) {
    ++calls;
    EXPECT_EQ(g.nv, 784);
  };
  rbm::train(d, o);
  EXPECT_EQ(calls, 2 * 6);
  o.device = "cuda";  // the CUDA backend calls it too (tests/gpu/test_gpu_gradient_hook.cpp)
  if (rbm_test::gpu_usable()) {
    EXPECT_EQ(rbm::train(d, o).backend_name.rfind("cuda", 0), 0u);
    EXPECT_EQ(calls, 4 * 6);
  } else {
    EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("no GPU is usable"), std::string::npos);
  }
  o.device = "cpu";
  o.labels = true;
  o.objective = "hybrid";
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("a label group's update has none yet"), std::string::npos);
}

}  // namespace
