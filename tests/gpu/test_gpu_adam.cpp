// Adam on the device (adam_advance and the Adam steps of kernels.hpp): the CD step's parameters,
// moments and update count against the CPU step on the same draws, across a state saved and restored
// between two models (the update count lives in device memory, so the captured graphs stay valid),
// and a state moving between the backends.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cuda_backend.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/model.hpp"

using namespace rbm_gpu_test;

namespace {

struct adam_case {
  bool gauss;  // Gaussian visible units, sampled, with learned sigma; else Bernoulli with sparsity, PCD
  int k;
};

class GpuAdamCdStep : public ::testing::TestWithParam<adam_case> {};

rbm::cd_config adam_config(const adam_case& a, int nv, int nh) {
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = a.k;
  c.update_rule = rbm::optimizer::adam;
  c.lr = 0.01f;
  c.weight_decay = 1e-2f;
  c.seed = 23;
  if (a.gauss) {
    c.visible = rbm::unit_kind::gaussian;
    c.visible_sample = true;
    c.learn_sigma = true;
  } else {
    c.pcd = true;
    c.sparsity_target = 0.1f;
    c.sparsity_cost = 0.1f;
  }
  return c;
}

// Four batches on the GPU: two on one model, then its parameters and state (moments, update count)
// into a second model for the other two. Returns the parameters and the final state.
rbm::model_params run_gpu(const rbm::cd_config& c, const rbm::model_params& p0, const std::vector<float>& data, int rows,
                          rbm::training_state& st) {
  rbm::cuda_stream stream;
  auto s = stream.view();
  rbm::model_options o;
  o.cd = c;
  o.max_batch = rows;
  const int nv = c.nv;
  rbm::model_params p = p0;
  auto d = upload(data, s);
  st = {};
  for (int half = 0; half < 2; ++half) {
    rbm::model m(o, s);
    m.set_params(p.w.data(), p.vb.data(), p.hb.data());
    if (p.gaussian()) m.set_sigma(p.sigma.data());
    if (half == 1) m.set_state(st);
    for (int b = 2 * half; b < 2 * half + 2; ++b) m.train_step(d.data() + std::size_t(b) * rows * nv, rows);
    m.get_params(p.w.data(), p.vb.data(), p.hb.data());
    if (p.gaussian()) m.get_sigma(p.sigma.data());
    st = m.get_state();
  }
  return p;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << what << "[" << i << "]";
}

TEST_P(GpuAdamCdStep, AgreesWithTheCpuStepAcrossASavedState) {
  const int nv = 29, nh = 13, rows = 11;
  const rbm::cd_config c = adam_config(GetParam(), nv, nh);
  std::mt19937 rng(5);
  rbm::model_params p0(nv, nh, c.visible);
  p0.w = random_vector(p0.w.size(), rng, -0.3f, 0.3f);
  p0.vb = random_vector(nv, rng, -1, 1);
  p0.hb = random_vector(nh, rng, -1, 1);
  if (c.learn_sigma) p0.sigma = random_vector(nv, rng, 0.5f, 1.5f);
  const auto data = random_vector(std::size_t(4) * rows * nv, rng, c.learn_sigma ? -2.0f : 0.0f, c.learn_sigma ? 2.0f : 1.0f);

  // The CPU step on the draws of the training generator's sequence, in the step's layout.
  rbm::model_params cpu = p0;
  rbm::cd_state st;
  rbm::cd_workspace ws;
  std::uint64_t position = 0;
  for (int b = 0; b < 4; ++b)
    rbm::cpu_cd_step(cpu, st, data.data() + std::size_t(b) * rows * nv, rows, step_draws(c, rows, position).data(), c, ws);
  ASSERT_EQ(st.updates, 4u);
  RBM_REQUIRE_GPU();

  rbm::training_state gst;
  const rbm::model_params gpu = run_gpu(c, p0, data, rows, gst);
  EXPECT_EQ(gst.updates, 4u) << "the device's update count, carried across the saved state";
  // FP32 GEMMs in another order: ~1e-6 in a gradient; Adam's steps (about lr each) follow its sign
  // and the ratio of its moments, so a dropped or doubled bias correction moves W by ~1e-3.
  expect_near(gpu.w, cpu.w, 2e-5, "W");
  expect_near(gpu.vb, cpu.vb, 2e-5, "vb");
  expect_near(gpu.hb, cpu.hb, 2e-5, "hb");
  expect_near(gst.sq_w, st.sq_w, 1e-6, "second moment of W");
  expect_near(gst.vel_w, st.vel_w, 1e-5, "first moment of W");
  expect_near(gst.sq_hb, st.sq_hb, 1e-6, "second moment of hb");
  if (c.learn_sigma) {
    expect_near(gpu.sigma, cpu.sigma, 2e-5, "sigma");
    expect_near(gst.sq_log_sigma, st.sq_log_sigma, 1e-5, "second moment of log sigma");
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuAdamCdStep, ::testing::Values(adam_case{false, 1}, adam_case{true, 2}),
                         [](const auto& info) {
                           return std::string(info.param.gauss ? "GaussianLearnedSigma_CD" : "BernoulliPcdSparse_CD") +
                                  std::to_string(info.param.k);
                         });

// A CPU run's state (its Adam moments and update count) continues on the GPU as on the CPU.
TEST(GpuAdam, ACpuStateContinuesOnTheGpu) {
  RBM_REQUIRE_GPU();
  const int nv = 24, nh = 10, rows = 16;
  rbm::cd_config c = adam_config({false, 1}, nv, nh);
  c.pcd = false;
  std::mt19937 rng(9);
  std::vector<std::uint8_t> data(std::size_t(4) * rows * nv);
  for (auto& x : data) x = std::uint8_t(rng() % 256);
  const rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), 4 * rows, 3, false);
  rbm::cpu_backend straight(c), first(c);
  straight.set_params(p0);
  first.set_params(p0);
  step_each({&straight}, data, nv, rows, 4);
  step_each({&first}, data, nv, rows, 2);
  rbm::cuda_backend gpu(c, rows, rbm::gpu_options{});
  gpu.set_params(first.params());
  rbm::training_state st = first.state();
  ASSERT_EQ(st.updates, 2u);
  gpu.set_state(st);
  gpu.attach(rbm::rows_view::of(data.data(), 4 * rows, nv));
  std::vector<int> idx(std::size_t(4) * rows);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = int(i);
  for (int b = 2; b < 4; ++b) gpu.step(idx.data() + std::size_t(b) * rows, rows);
  EXPECT_EQ(gpu.state().updates, 4u);
  expect_near(gpu.params().w, straight.params().w, 2e-5, "W");
  expect_near(gpu.params().hb, straight.params().hb, 2e-5, "hb");
}

}  // namespace
