// Gaussian and ReLU hidden units on the device against the CPU: the kernel's means and draws, the CD
// step (with the naive double reference run first, on the CPU alone), evaluation and AIS.
#include <cuda_runtime_api.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gpu_test.hpp"
#include "rbm/curand_generator.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cuda_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/kernels.hpp"
#include "../reference_cd.hpp"

using namespace rbm_gpu_test;

namespace {

using rbm::unit_kind;

class GpuHiddenUnits : public ::testing::TestWithParam<unit_kind> {};

TEST_P(GpuHiddenUnits, KernelMeansAndDrawsMatchTheCpuPasses) {
  RBM_REQUIRE_GPU();
  const unit_kind k = GetParam();
  const int rows = 37, cols = 53;
  std::mt19937 rng(3);
  const auto pre = random_vector(std::size_t(rows) * cols, rng, -40.0f, 30.0f);
  const auto bias = random_vector(cols, rng, -2.0f, 2.0f);
  auto u = random_vector(pre.size(), rng, 0.0f, 1.0f);
  for (auto& x : u) x = x > 0.0f ? x : 1.0f;  // (0, 1], as Philox draws
  std::vector<float> mean = pre, draws(pre.size());
  rbm::cpu::hidden_sample_rows(k, mean.data(), bias.data(), u.data(), rows, cols, draws.data());
  rbm::cuda_stream st;
  auto s = st.view();
  auto dpre = upload(pre, s), dbias = upload(bias, s), du = upload(u, s);
  auto dmean = poisoned(pre.size(), s), ddraws = poisoned(pre.size(), s);
  rbm::hidden_sample(k, dpre.data(), dbias.data(), du.data(), dmean.data(), ddraws.data(), rows, cols, s);
  const auto gm = download(dmean, s), gd = download(ddraws, s);
  // The same double expressions; the device's erfc, log and exp may round a last bit differently.
  for (std::size_t i = 0; i < pre.size(); ++i) {
    ASSERT_NEAR(gm[i], mean[i], 1e-6f * std::max(1.0f, std::fabs(mean[i]))) << i;
    ASSERT_NEAR(gd[i], draws[i], 1e-5f * std::max(1.0f, std::fabs(draws[i]))) << i;
  }
}

TEST_P(GpuHiddenUnits, CdStepAgreesWithTheCpuBackendAndTheReference) {
  const unit_kind k = GetParam();
  const int nv = 31, nh = 17, rows = 13;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = 2;
  c.lr = 0.01f;
  c.hidden = k;
  c.seed = 31;
  std::vector<std::uint8_t> data(rows * 3 * nv);
  std::mt19937 rng(8);
  for (auto& x : data) x = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() % 256 : 0);
  rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), rows * 3, 9, false);
  p0.hidden = k;
  // The reference on the backends' uniforms, on the CPU alone (it runs even where no GPU is).
  rbm_test::ref_model ref = rbm_test::ref_from(p0);
  ref.hidden = k;
  rbm::philox_generator gen(rbm::philox_generator::where::host, c.seed);
  int ambiguous = 0;
  for (int b = 0; b < 3; ++b) {
    std::vector<float> u(rbm::cd_uniform_count(rows, nv, nh, c.k));
    gen.uniform(u.data(), u.size());
    std::vector<double> v0(std::size_t(rows) * nv);
    for (std::size_t i = 0; i < v0.size(); ++i) v0[i] = rbm::pixel_to_unit(data[b * rows * nv + i]);
    rbm_test::ref_cd_step(ref, v0, rows, u.data(), c, ambiguous);
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of its probability; pick another seed";
  RBM_REQUIRE_GPU();
  rbm::cpu_backend cpu(c);
  cpu.set_params(p0);
  rbm::cuda_backend gpu(c, rows, rbm::gpu_options{});
  gpu.set_params(p0);
  step_each({&cpu, &gpu}, data, nv, rows, 3);
  const auto a = cpu.params(), d = gpu.params();
  EXPECT_EQ(d.hidden, k);
  for (int i = 0; i < nv * nh; ++i) {
    ASSERT_NEAR(d.w[i], a.w[i], 2e-5) << "W[" << i << "]";
    ASSERT_NEAR(d.w[i], ref.w[i], 2e-5) << "W[" << i << "] against the double reference";
  }
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(d.hb[j], a.hb[j], 2e-5) << "hb[" << j << "]";
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(d.vb[i], a.vb[i], 2e-5) << "vb[" << i << "]";
}

TEST_P(GpuHiddenUnits, EvaluationAndAisAgreeWithTheCpu) {
  RBM_REQUIRE_GPU();
  const unit_kind k = GetParam();
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 1000);
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 20;
  c.lr = 0.005f;
  c.hidden = k;
  c.seed = 3;
  rbm::model_params p0 = rbm::init_params(784, 20, d.train.pixels.data(), 1000, 3, false);
  p0.hidden = k;
  rbm::cpu_backend cpu(c);
  cpu.set_params(p0);
  for (int b = 0; b < 10; ++b) rbm::train_on(cpu, rbm::rows_view::of(d.train.pixels.data() + std::size_t(b) * 100 * 784, 100, 784));
  rbm::cuda_backend gpu(c, 100, rbm::gpu_options{});
  gpu.set_params(cpu.params());
  const auto test = rbm::rows_view::of(d.test.pixels.data(), 1234, 784);
  const auto a = cpu.evaluate(test), b = gpu.evaluate(test);
  EXPECT_NEAR(b.err_mean_field, a.err_mean_field, 1e-6);
  EXPECT_NEAR(b.err_sampled, a.err_sampled, 1e-5);
  EXPECT_NEAR(b.free_energy, a.free_energy, 1e-4 * std::fabs(a.free_energy));
  const auto v = rbm::binarize(d.train.pixels.data(), d.train.pixels.size());
  rbm::ais_options o;
  o.runs = 64;
  o.steps = 2000;
  o.seed = 9;
  const auto base = rbm::base_rate_bias(v.data(), 1000, 784);
  const auto ac = cpu.ais_log_z(base, o), ag = gpu.ais_log_z(base, o);
  EXPECT_NEAR(ag.log_z, ac.log_z, 0.05);  // the same draws
  EXPECT_NEAR(ag.log_z_base, ac.log_z_base, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Kinds, GpuHiddenUnits, ::testing::Values(unit_kind::gaussian, unit_kind::relu),
                         [](const auto& info) { return std::string(rbm::to_string(info.param)); });

}  // namespace
