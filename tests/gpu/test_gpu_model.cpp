// The device model and the CUDA backend against the CPU backend: same seed, same uniforms, same update.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gpu_test.hpp"
#include "rbm/curand_generator.hpp"
#include "rbm/device_arrays.hpp"
#include "rbm/statistics.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/kernels.hpp"
#include "rbm/host/cuda_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/model.hpp"
#include "../reference_cd.hpp"

using namespace rbm_gpu_test;

namespace {

TEST(GpuModel, DevicePhiloxDrawsTheHostSequence) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  rbm::philox_generator host(rbm::philox_generator::where::host, 77);
  rbm::philox_generator dev(rbm::philox_generator::where::device, 77, 0, st.get());
  for (std::size_t n : {std::size_t(1000), std::size_t(37), std::size_t(4096 * 3 + 5)}) {  // odd call sizes too
    std::vector<float> h(n);
    host.uniform(h.data(), n);
    auto d = poisoned(n, st.view());
    dev.uniform(d.data(), n);
    ASSERT_EQ(download(d, st.view()), h) << "call of " << n;
  }
}

struct step_case {
  int k;
  bool pcd;
};

class GpuCdStep : public ::testing::TestWithParam<step_case> {};

TEST_P(GpuCdStep, ParametersAgreeWithTheCpuBackend) {
  const int nv = 31, nh = 17, rows = 13;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = GetParam().k;
  c.pcd = GetParam().pcd;
  c.lr = 0.05f;
  c.momentum = 0.5f;
  c.weight_decay = 1e-3f;
  c.sparsity_target = 0.1f;
  c.sparsity_cost = 0.1f;
  c.seed = 31;
  std::vector<std::uint8_t> data(rows * 3 * nv);
  std::mt19937 rng(8);
  for (auto& x : data) x = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() % 256 : 0);
  const rbm::model_params p0 = rbm::init_params(nv, nh, data.data(), rows * 3, 9, false);

  // The double-precision reference on the backends' uniforms (the training generator's sequence from
  // position 0), run first and on the CPU alone: it guards the comparison below, as in the CPU
  // backend's test, against a uniform within rounding of its probability (a legitimately flipped
  // state), and it runs, and is checked, even where no GPU is.
  rbm_test::ref_model ref = rbm_test::ref_from(p0);
  rbm::philox_generator gen(rbm::philox_generator::where::host, c.seed);
  int ambiguous = 0;
  double ref_err = 0;
  for (int b = 0; b < 3; ++b) {
    std::vector<float> u(rbm::cd_uniform_count(rows, nv, nh, c.k));
    gen.uniform(u.data(), u.size());
    std::vector<double> v0(std::size_t(rows) * nv);
    for (std::size_t i = 0; i < v0.size(); ++i) v0[i] = rbm::pixel_to_unit(data[b * rows * nv + i]);
    ref_err += rbm_test::ref_cd_step(ref, v0, rows, u.data(), c, ambiguous) / 3;
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of its probability; pick another seed";
  RBM_REQUIRE_GPU();

  rbm::cpu_backend cpu(c);
  cpu.set_params(p0);
  rbm::gpu_options g;
  g.resident = "off";  // the streamed path (pinned staging, two streams); run_gpu below covers the resident one
  rbm::cuda_backend gpu(c, rows, g);
  gpu.set_params(p0);
  step_each({&cpu, &gpu}, data, nv, rows, 3);
  const auto a = cpu.params(), d = gpu.params();
  // FP32 GEMMs in another summation order: ~1e-6 per update. A flipped sampled state would move a
  // weight by ~lr/rows = 4e-3 and fail this (none is ambiguous, above).
  for (int i = 0; i < nv * nh; ++i) {
    ASSERT_NEAR(d.w[i], a.w[i], 2e-5) << "W[" << i << "]";
    ASSERT_NEAR(d.w[i], ref.w[i], 2e-5) << "W[" << i << "] against the double reference";
  }
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(d.vb[i], a.vb[i], 2e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(d.hb[j], a.hb[j], 2e-5) << "hb[" << j << "]";
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(d.vb[i], ref.vb[i], 2e-5) << "vb[" << i << "] against the double reference";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(d.hb[j], ref.hb[j], 2e-5) << "hb[" << j << "] against the double reference";
  const double gpu_err = gpu.take_sums().reconstruction_error();
  EXPECT_NEAR(gpu_err, cpu.take_sums().reconstruction_error(), 1e-6);
  EXPECT_NEAR(gpu_err, ref_err, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuCdStep,
                         ::testing::Values(step_case{1, false}, step_case{5, false}, step_case{1, true}, step_case{5, true}),
                         [](const auto& info) {
                           return std::string(info.param.pcd ? "PCD" : "CD") + std::to_string(info.param.k);
                         });

// Trains a few batches through the CUDA backend with the given options and returns the parameters.
rbm::model_params run_gpu(const rbm::gpu_options& g, const std::vector<std::uint8_t>& data, int n, const rbm::cd_config& c,
                          int batch) {
  rbm::cuda_backend be(c, batch, g);
  be.set_params(rbm::init_params(c.nv, c.nh, data.data(), n, 4, false));
  be.attach(rbm::rows_view::of(data.data(), n, c.nv));
  std::vector<int> order(n);
  for (int e = 0; e < 2; ++e) {
    for (int i = 0; i < n; ++i) order[i] = (i * 7 + e) % n;
    for (int first = 0; first < n; first += batch) be.step(order.data() + first, std::min(batch, n - first));
  }
  return be.params();
}

TEST(GpuModel, GraphReplayEqualsEagerAndStreamedEqualsResident) {
  RBM_REQUIRE_GPU();
  rbm::cd_config c;
  c.nv = 50;
  c.nh = 33;
  c.k = 2;
  c.pcd = true;
  const int n = 250, batch = 40;  // 6 full batches and a partial one: two graphs
  std::vector<std::uint8_t> data(n * c.nv);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
  rbm::gpu_options base;
  base.resident = "on";
  const auto ref = run_gpu(base, data, n, c, batch);
  rbm::gpu_options eager = base;
  eager.use_graph = false;
  rbm::gpu_options streamed = base;
  streamed.resident = "off";
  EXPECT_EQ(run_gpu(eager, data, n, c, batch).w, ref.w);
  const auto s = run_gpu(streamed, data, n, c, batch);
  EXPECT_EQ(s.w, ref.w);
  EXPECT_EQ(s.hb, ref.hb);
}

// TF32 / BF16 GEMMs against FP32 over 20 updates of the same draws. Rounding the GEMM inputs to 10 / 7
// mantissa bits moves each pre-activation by ~2^-11 / 2^-8 of its terms' size; a sampled state flips
// only where its uniform lies that close to its probability, so the runs share almost every draw and
// drift apart far less than two FP32 runs with different draws (another seed, the same initial
// weights) do. The bound is a fraction of that seed-to-seed distance: 0.3. bench/reduced_precision_drift.py
// emulates this on the CPU (this model, data, schedule and init; every GEMM input rounded to nearest
// with 10 / 7 mantissa bits): 0.066 (TF32) and 0.117 (BF16) of the seed distance (0.013 and 0.023 of
// |W|), margins of 4.5x and 2.6x.
TEST(GpuModel, ReducedPrecisionStaysCloseToFp32) {
  RBM_REQUIRE_GPU();
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 200;
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 1000);
  rbm::gpu_options g;
  g.resident = "on";
  const auto fp32 = run_gpu(g, d.train.pixels, 1000, c, 100);
  rbm::cd_config other_draws = c;
  other_draws.seed = c.seed + 1;
  const auto distance = [&](const rbm::model_params& a) {
    double s = 0;
    for (std::size_t i = 0; i < fp32.w.size(); ++i) s += std::pow(double(a.w[i]) - fp32.w[i], 2);
    return std::sqrt(s);
  };
  const double seeds = distance(run_gpu(g, d.train.pixels, 1000, other_draws, 100));
  ASSERT_GT(seeds, 0.0) << "another seed must draw otherwise";
  for (auto mode : {rbm::gemm_mode::tf32, rbm::gemm_mode::bf16}) {
    g.mode = mode;
    const double low = distance(run_gpu(g, d.train.pixels, 1000, c, 100));
    EXPECT_LT(low, 0.3 * seeds) << rbm::to_string(mode) << ": " << low << " from FP32; another seed " << seeds;
  }
}

TEST(GpuModel, EvaluationMatchesTheCpuBackend) {
  RBM_REQUIRE_GPU();
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 120;
  c.seed = 3;
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  const auto p = rbm::init_params(784, 120, d.train.pixels.data(), 2000, 5, false);
  rbm::cpu_backend cpu(c);
  cpu.set_params(p);
  rbm::cuda_backend gpu(c, 100, rbm::gpu_options{});
  gpu.set_params(p);
  const auto test = rbm::rows_view::of(d.test.pixels.data(), 1234, 784);
  const auto a = cpu.evaluate(test), b = gpu.evaluate(test);
  EXPECT_NEAR(b.err_mean_field, a.err_mean_field, 1e-6);
  EXPECT_NEAR(b.err_sampled, a.err_sampled, 1e-5);  // the same uniforms; rare rounding flips only
  EXPECT_NEAR(b.free_energy, a.free_energy, 1e-4 * std::fabs(a.free_energy));
}

TEST(GpuTraining, SeedPresetOnTheGpuReachesTheCpuError) {
  RBM_REQUIRE_GPU();
  const rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::train_options o = rbm::seed_preset();
  o.device = "cpu";
  o.out_dir = std::string(RBM_TEST_TMP) + "/gpu_seed_cpu";
  const auto cpu = rbm::train(d, o);
  o.device = "cuda";
  o.out_dir = std::string(RBM_TEST_TMP) + "/gpu_seed_gpu";
  const auto gpu = rbm::train(d, o);
  const double ce = cpu.history.back().train.err_sampled, ge = gpu.history.back().train.err_sampled;
  EXPECT_GT(ge, 0.08);
  EXPECT_LT(ge, 0.10);
  EXPECT_NEAR(ge, ce, 0.003);  // same draws; float summation order drifts the chains apart slowly
  EXPECT_NE(gpu.backend_name.find("cuda"), std::string::npos);
}

}  // namespace

namespace {

TEST(GpuModel, SamplingAndGibbsMatchTheirProbabilities) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  rbm::model_options o;
  o.cd.nv = 9;
  o.cd.nh = 5;
  o.max_batch = 4000;
  rbm::model m(o, s);
  std::mt19937 rng(12);
  const auto w = random_vector(45, rng, -1, 1), vb = random_vector(9, rng, -1, 1), hb = random_vector(5, rng, -1, 1);
  m.set_params(w.data(), vb.data(), hb.data());
  // 4000 copies of one visible vector: the hidden states' frequencies must match p(h | v).
  std::vector<float> v(4000 * 9);
  for (int r = 0; r < 4000; ++r)
    for (int i = 0; i < 9; ++i) v[r * 9 + i] = float(i % 2);
  auto d_v = upload(v, s);
  auto prob = poisoned(4000 * 5, s), state = poisoned(4000 * 5, s);
  m.sample_hidden(d_v.data(), 4000, prob.data(), state.data());
  const auto p = download(prob, s), h = download(state, s);
  for (int j = 0; j < 5; ++j) {
    double a = hb[j];
    for (int i = 0; i < 9; ++i) a += (i % 2) * w[i * 5 + j];
    const double ref = 1 / (1 + std::exp(-a));
    EXPECT_NEAR(p[j], ref, 1e-6);
    double freq = 0;
    for (int r = 0; r < 4000; ++r) freq += h[r * 5 + j];
    EXPECT_NEAR(freq / 4000, ref, 4 * std::sqrt(ref * (1 - ref) / 4000) + 1e-3) << "unit " << j;  // 4 sigma
  }
  // Gibbs leaves binary states behind, and moves: after 3 sweeps the 4000 chains (all started from
  // one vector) have spread out, and each visible unit is on about as often as p(v_i | h) says for
  // the hidden states the sweep ended on.
  auto d_h = poisoned(4000 * 5, s);
  m.gibbs(d_v.data(), d_h.data(), 4000, 3);
  const auto v3 = download(d_v, s), h3 = download(d_h, s);
  for (float x : v3) ASSERT_TRUE(x == 0.0f || x == 1.0f);
  for (float x : h3) ASSERT_TRUE(x == 0.0f || x == 1.0f);
  int moved = 0;
  for (int r = 0; r < 4000; ++r)
    for (int i = 0; i < 9; ++i)
      if (v3[r * 9 + i] != v[r * 9 + i]) {
        ++moved;
        break;
      }
  EXPECT_GT(moved, 1000) << "of 4000 chains, only " << moved << " left their start";
  for (int i = 0; i < 9; ++i) {
    double expected = 0, freq = 0;
    for (int r = 0; r < 4000; ++r) {
      double a = vb[i];
      for (int j = 0; j < 5; ++j) a += h3[r * 5 + j] * w[i * 5 + j];
      expected += 1 / (1 + std::exp(-a)) / 4000;
      freq += v3[r * 9 + i] / 4000;
    }
    EXPECT_NEAR(freq, expected, 4 * std::sqrt(0.25 / 4000) + 1e-3) << "visible unit " << i;
  }
}

}  // namespace

namespace {

TEST(GpuModel, AisOnTheGpuAgreesWithTheCpu) {
  RBM_REQUIRE_GPU();
  // A 784x12 model trained briefly on digits: exact log Z is enumerable, and both backends draw the
  // same uniforms, so their AIS estimates agree far more closely than either's interval.
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 1000);
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 12;
  c.lr = 0.05f;
  rbm::cpu_backend cpu(c);
  cpu.set_params(rbm::init_params(784, 12, d.train.pixels.data(), 1000, 3, false));
  for (int b = 0; b < 10; ++b) rbm::train_on(cpu, rbm::rows_view::of(d.train.pixels.data() + std::size_t(b) * 100 * 784, 100, 784));
  rbm::cuda_backend gpu(c, 100, rbm::gpu_options{});
  gpu.set_params(cpu.params());
  const auto v = rbm::binarize(d.train.pixels.data(), d.train.pixels.size());
  const auto base = rbm::base_rate_bias(v.data(), 1000, 784);
  rbm::ais_options o;
  o.runs = 64;
  o.steps = 2000;
  o.seed = 9;
  const auto a = cpu.ais_log_z(base, o), g = gpu.ais_log_z(base, o);
  const double exact = rbm::exact_log_z(cpu.params());
  EXPECT_NEAR(g.log_z, a.log_z, 0.05);  // same draws; rare rounding flips only
  EXPECT_NEAR(g.log_z, exact, 0.5);
  EXPECT_LE(g.log_z_low, exact);
  EXPECT_GE(g.log_z_high, exact);
}

}  // namespace

namespace {

TEST(GpuModel, EvaluationNeverServesStaleDataFromAReusedHostBuffer) {
  RBM_REQUIRE_GPU();
  // A library caller evaluates one set, then refills the same host buffer with other data (as a freed
  // and reallocated buffer at the same address would hold): the second call must see the new data.
  rbm::cd_config c;
  c.nv = 784;
  c.nh = 40;
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  const auto p = rbm::init_params(784, 40, d.train.pixels.data(), 1000, 5, false);
  rbm::cuda_backend gpu(c, 100, rbm::gpu_options{});
  gpu.set_params(p);
  rbm::cpu_backend cpu(c);
  cpu.set_params(p);
  std::vector<std::uint8_t> buf(d.train.pixels.begin(), d.train.pixels.begin() + 600 * 784);
  const auto rows = rbm::rows_view::of(buf.data(), 600, 784);
  const auto first = gpu.evaluate(rows);
  std::copy(d.test.pixels.begin(), d.test.pixels.begin() + 600 * 784, buf.begin());
  const auto second = gpu.evaluate(rows), expected = cpu.evaluate(rows);
  EXPECT_NE(second.free_energy, first.free_energy);
  EXPECT_NEAR(second.free_energy, expected.free_energy, 1e-4 * std::fabs(expected.free_energy));
  EXPECT_NEAR(second.err_mean_field, expected.err_mean_field, 1e-6);
}

// The same updates on a stream the test created, on the legacy and the per-thread default streams
// (graphs requested: the model must launch eagerly there rather than fail to capture) and with graphs
// off: identical parameters.
TEST(GpuModel, DefaultStreamsTrainEagerlyAndEqualAGraphedStream) {
  RBM_REQUIRE_GPU();
  const int nv = 40, nh = 24, rows = 32;
  std::vector<float> data(std::size_t(rows) * nv);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = float((i * 2654435761u) >> 31);
  std::mt19937 rng(4);
  const auto w = random_vector(std::size_t(nv) * nh, rng, -0.1f, 0.1f), vb = random_vector(nv, rng, -1, 1),
             hb = random_vector(nh, rng, -1, 1);
  auto run = [&](rbm::stream_view s, bool graph) {
    rbm::model_options o;
    o.cd.nv = nv;
    o.cd.nh = nh;
    o.cd.k = 2;
    o.max_batch = rows;
    o.use_graph = graph;
    auto d = upload(data, s);
    std::vector<float> out(w.size()), ovb(nv), ohb(nh);
    {
      rbm::model m(o, s);
      m.set_params(w.data(), vb.data(), hb.data());
      for (int i = 0; i < 5; ++i) m.train_step(d.data(), rows);  // eager once, then graph replays
      m.get_params(out.data(), ovb.data(), ohb.data());
    }
    s.synchronize();
    return out;
  };
  rbm::cuda_stream own;
  const auto graphed = run(own.view(), true);
  EXPECT_NE(graphed, w);
  EXPECT_EQ(run(own.view(), false), graphed);
  EXPECT_EQ(run(rbm::stream_view(cudaStreamLegacy), true), graphed);
  EXPECT_EQ(run(rbm::stream_view(cudaStreamPerThread), true), graphed);
  EXPECT_THROW(rbm::cuda_graph::capture(rbm::stream_view(cudaStreamLegacy), [](rbm::stream_view) {}),
               rbm::precondition_error);
}

// A model destroyed while its updates are still queued waits for them (its destructor synchronises),
// so the work completes and the stream stays usable.
TEST(GpuModel, DestroyingAModelWithQueuedWorkIsSafe) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  std::vector<float> data(std::size_t(256) * 784, 1.0f);
  auto d = upload(data, s);
  rbm::cuda_event after_steps;
  {
    rbm::model_options o;
    o.cd.nv = 784;
    o.cd.nh = 500;
    o.max_batch = 256;
    rbm::model m(o, s);
    for (int i = 0; i < 20; ++i) m.train_step(d.data(), 256);
    after_steps.record(s);
  }  // no synchronisation by the caller
  // Every step the model queued has completed when its destructor returns. (The stream itself may
  // still hold the stream-ordered frees of the model's buffers, queued by the members' destructors
  // after the wait: query the event recorded after the steps, not the stream.)
  ASSERT_EQ(cudaEventQuery(after_steps.get()), cudaSuccess);
  s.synchronize();
}

}  // namespace

namespace {

// Gaussian visible units in rbm::model: three updates on real values against the CPU's cpu_cd_step and
// the double reference, both fed the step's draws at the layout's positions of the same Philox
// sequence (the device generator's normals may round their last bit otherwise than the CPU's, hence
// the tolerance); mean-field and sampled reconstructions, CD and PCD. The reference (and its guard
// against uniforms within rounding of their probability) runs on the CPU, GPU or not.
struct gauss_case {
  int k;
  bool sample, pcd;
  bool unit_sigma = false;  // every sigma 1: the path without the scaling passes
  bool learn = false;       // learned sigma (log sigma with momentum, floored)
};

class GpuGaussianCdStep : public ::testing::TestWithParam<gauss_case> {};

TEST_P(GpuGaussianCdStep, ParametersAgreeWithTheCpu) {
  const int nv = 29, nh = 13, rows = 11;
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.k = GetParam().k;
  c.pcd = GetParam().pcd;
  c.lr = 0.01f;
  c.momentum = 0.5f;
  c.weight_decay = 1e-3f;
  c.seed = 17;
  c.visible = rbm::unit_kind::gaussian;
  c.visible_sample = GetParam().sample;
  c.learn_sigma = GetParam().learn;
  std::mt19937 rng(5);
  rbm::model_params p0(nv, nh, rbm::unit_kind::gaussian);
  p0.w = random_vector(p0.w.size(), rng, -0.3f, 0.3f);
  p0.vb = random_vector(nv, rng, -1, 1);
  p0.hb = random_vector(nh, rng, -1, 1);
  p0.sigma = GetParam().unit_sigma ? std::vector<float>(nv, 1.0f) : random_vector(nv, rng, 0.5f, 1.5f);
  const auto data = random_vector(std::size_t(3) * rows * nv, rng, -2, 2);

  rbm::model_params cpu = p0;
  rbm::cd_state st;
  rbm::cd_workspace ws;
  rbm_test::ref_model ref = rbm_test::ref_from(p0);
  int ambiguous = 0;
  std::uint64_t position = 0;
  for (int b = 0; b < 3; ++b) {
    const std::vector<float> draws = step_draws(c, rows, position);
    const float* v0 = data.data() + std::size_t(b) * rows * nv;
    rbm::cpu_cd_step(cpu, st, v0, rows, draws.data(), c, ws);
    rbm_test::ref_cd_step(ref, std::vector<double>(v0, v0 + std::size_t(rows) * nv), rows, draws.data(), c, ambiguous);
  }
  ASSERT_EQ(ambiguous, 0) << "a uniform fell within rounding of its probability; pick another seed";
  RBM_REQUIRE_GPU();

  rbm::cuda_stream stream;
  auto s = stream.view();
  rbm::model_options o;
  o.cd = c;
  o.max_batch = rows;
  std::vector<float> w(p0.w.size()), vb(nv), hb(nh), sigma(nv);
  rbm::training_state gst;
  {
    rbm::model m(o, s);
    m.set_params(p0.w.data(), p0.vb.data(), p0.hb.data());
    m.set_sigma(p0.sigma.data());
    auto d = upload(data, s);
    for (int b = 0; b < 3; ++b) m.train_step(d.data() + std::size_t(b) * rows * nv, rows);  // eager, then graphs
    m.get_params(w.data(), vb.data(), hb.data());
    m.get_sigma(sigma.data());
    gst = m.get_state();
  }
  if (c.learn_sigma) {  // sigma moved, alike on the three
    ASSERT_EQ(gst.vel_log_sigma.size(), std::size_t(nv));
    double moved = 0;
    for (int i = 0; i < nv; ++i) {
      ASSERT_NEAR(sigma[i], cpu.sigma[i], 2e-5) << "sigma[" << i << "]";
      ASSERT_NEAR(sigma[i], ref.sigma[i], 2e-5) << "sigma[" << i << "] against the double reference";
      ASSERT_NEAR(gst.vel_log_sigma[i], st.vel_log_sigma[i], 2e-5) << "momentum of log sigma[" << i << "]";
      moved = std::max(moved, std::fabs(double(sigma[i]) - p0.sigma[i]));
    }
    EXPECT_GT(moved, 1e-3);
  } else {
    EXPECT_EQ(sigma, p0.sigma);
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    ASSERT_NEAR(w[i], cpu.w[i], 2e-5) << "W[" << i << "]";
    ASSERT_NEAR(w[i], ref.w[i], 2e-5) << "W[" << i << "] against the double reference";
  }
  for (int i = 0; i < nv; ++i) ASSERT_NEAR(vb[i], cpu.vb[i], 2e-5) << "vb[" << i << "]";
  for (int j = 0; j < nh; ++j) ASSERT_NEAR(hb[j], cpu.hb[j], 2e-5) << "hb[" << j << "]";
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuGaussianCdStep,
                         ::testing::Values(gauss_case{1, false, false}, gauss_case{2, true, false},
                                           gauss_case{1, true, true}, gauss_case{2, true, false, true},
                                           gauss_case{1, true, false, false, true},
                                           gauss_case{2, true, true, true, true}),
                         [](const auto& info) {
                           return std::string(info.param.pcd ? "PCD" : "CD") + std::to_string(info.param.k) +
                                  (info.param.sample ? "_sampled" : "_mean_field") + (info.param.unit_sigma ? "_unit_sigma" : "") +
                                  (info.param.learn ? "_learned_sigma" : "");
                         });

// The Gaussian kernels against the CPU passes, element by element (the same rbm/units.hpp maths).
TEST(GpuKernelsGaussian, VisibleMeansSamplesAndScalingMatchTheCpu) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  std::mt19937 rng(9);
  const int rows = 37, cols = 53;
  const auto x = random_vector(rows * cols, rng, -3, 3), vb = random_vector(cols, rng, -1, 1),
             sigma = random_vector(cols, rng, 0.3f, 2.0f), normals = random_vector(rows * cols, rng, -3, 3);
  auto d_vb = upload(vb, s), d_sigma = upload(sigma, s), d_n = upload(normals, s);
  for (bool sampled : {false, true}) {
    auto d_x = upload(x, s);
    rbm::gaussian_visible(d_x.data(), d_vb.data(), d_sigma.data(), sampled ? d_n.data() : nullptr, rows, cols, s);
    auto cpu = x;
    rbm::cpu::gaussian_visible_rows(cpu.data(), vb.data(), sigma.data(), sampled ? normals.data() : nullptr, rows, cols);
    const auto gpu = download(d_x, s);
    for (int i = 0; i < rows * cols; ++i) ASSERT_EQ(gpu[i], cpu[i]) << i;  // rounded alike (units.hpp)
  }
  auto d_v = upload(x, s);
  auto d_out = poisoned(x.size(), s);
  rbm::scale_by_sigma(d_v.data(), d_sigma.data(), rows, cols, d_out.data(), s);
  std::vector<float> cpu(x.size());
  rbm::cpu::scale_by_sigma_rows(x.data(), sigma.data(), rows, cols, cpu.data());
  EXPECT_EQ(download(d_out, s), cpu);  // one correctly rounded division on both

  // Learned sigma: both phases' column sums against double sums of the same units.hpp term, then the step.
  const auto v1 = random_vector(rows * cols, rng, -3, 3), x1 = random_vector(rows * cols, rng, -2, 2);
  auto d_x0 = upload(x, s), d_v1 = upload(v1, s), d_x1 = upload(x1, s), d_g = poisoned(cols, s);
  const auto v0 = normals;  // any real rows
  auto d_v0 = upload(v0, s);
  rbm::sigma_gradient(d_v0.data(), d_x0.data(), d_vb.data(), d_sigma.data(), rows, cols, 1.0f, false, d_g.data(), s);
  rbm::sigma_gradient(d_v1.data(), d_x1.data(), d_vb.data(), d_sigma.data(), rows, cols, -1.0f, true, d_g.data(), s);
  const auto g = download(d_g, s);
  std::vector<float> vel = random_vector(cols, rng, -0.1f, 0.1f), want_sigma(cols), want_vel(cols);
  for (int c = 0; c < cols; ++c) {
    double sum = 0, mag = 0;
    for (int r = 0; r < rows; ++r) {
      const std::size_t i = std::size_t(r) * cols + c;
      const double a = rbm::gaussian_units::log_sigma_gradient(v0[i], vb[c], sigma[c], x[i]);
      const double b = rbm::gaussian_units::log_sigma_gradient(v1[i], vb[c], sigma[c], x1[i]);
      sum += a - b;
      mag += std::fabs(a) + std::fabs(b);
    }
    ASSERT_NEAR(g[c], sum, 1e-6 * mag + 1e-6) << "column " << c;
    want_vel[c] = 0.5f * vel[c] + 0.01f * (g[c] * (1.0f / rows));
    want_sigma[c] = rbm::gaussian_units::variance_step(sigma[c], want_vel[c], 0.4f);
  }
  auto d_vel = upload(vel, s);
  rbm::log_sigma_step(d_g.data(), cols, rows, 0.01f, 0.5f, 0.4f, d_vel.data(), d_sigma.data(), s);
  const auto new_sigma = download(d_sigma, s), new_vel = download(d_vel, s);
  for (int c = 0; c < cols; ++c) {
    ASSERT_NEAR(new_vel[c], want_vel[c], 1e-7) << c;
    ASSERT_NEAR(new_sigma[c], want_sigma[c], 4e-7 * want_sigma[c]) << c;  // expf: a few ulp apart
    ASSERT_GE(new_sigma[c], 0.4f);
  }
}

}  // namespace

namespace {

// `rbm train` of a Gaussian-Bernoulli model (standardised digits, sigma 1, mean-field reconstructions)
// on the CUDA backend and on the CPU: the same draws, so the runs differ only by float summation order
// and the rare hidden state that order flips; their errors and parameters stay close. The bounds, from
// this test's settings on the CPU (rbm train --device cpu --visible gaussian --standardize --hidden 50
// --epochs 2 --train-limit 2000 --test-limit 500): another summation order (1 against 2 threads) moved
// W by 6e-7 of |W| and the held-out error not at all; other seeds moved W by 1.43 of |W| and the error
// by 0.22-0.29 % (1.3793, 1.3753, 1.3765). So: the error within 0.1 % (under half the seed spread), W
// within 0.01 of |W| (1/140 of another seed's distance, 10^4 times the rounding seen).
TEST(GpuTraining, GaussianUnitsOnTheGpuTrainLikeTheCpu) {
  RBM_REQUIRE_GPU();
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 2000);
  rbm::truncate(d.test, 500);
  rbm::train_options o;
  o.cd.nh = 50;
  o.cd.visible = rbm::unit_kind::gaussian;
  o.standardize = true;
  o.epochs = 2;
  o.device = "cpu";
  o.out_dir = std::string(RBM_TEST_TMP) + "/gpu_gauss_cpu";
  const auto cpu = rbm::train(d, o);
  o.device = "cuda";
  o.out_dir = std::string(RBM_TEST_TMP) + "/gpu_gauss_gpu";
  const auto gpu = rbm::train(d, o);
  EXPECT_NE(gpu.backend_name.find("cuda"), std::string::npos);
  EXPECT_TRUE(gpu.params.gaussian());
  const double ce = cpu.history.back().test.err_mean_field, ge = gpu.history.back().test.err_mean_field;
  EXPECT_NEAR(ge, ce, 0.001 * ce);
  EXPECT_LT(ge, gpu.history.front().test.err_mean_field);  // it learned
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < cpu.params.w.size(); ++i)
    diff += std::pow(gpu.params.w[i] - cpu.params.w[i], 2), norm += std::pow(cpu.params.w[i], 2);
  EXPECT_LT(std::sqrt(diff / norm), 0.01);
}

// A training set already in GPU memory (a CUDA array through the binding) trains as the same rows from
// host memory: the same initialisation (column means on the device), the same standardisation, the
// same batches gathered on the device; NaN is refused naming the count, host pointers are refused.
TEST(GpuTraining, RowsInGpuMemoryTrainAsTheSameRowsFromTheHost) {
  RBM_REQUIRE_GPU();
  auto message_of = [](auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(nothing thrown)");
  };
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 1500);
  rbm::dataset host;
  host.name = "values";
  host.train.count = d.train.count;
  host.train.rows = 28;
  host.train.cols = 28;
  host.train.source = "X";
  for (std::uint8_t px : d.train.pixels) host.train.values.push_back(rbm::pixel_to_unit(px));
  rbm::cuda_stream st;
  auto dev = rbm_gpu_test::upload(host.train.values, st.view());
  rbm::dataset on_gpu = host;
  on_gpu.train.values.clear();
  on_gpu.train.device_values = dev.data();
  for (const bool gaussian : {false, true}) {
    rbm::train_options o;
    o.cd.nh = 40;
    o.cd.pcd = true;
    o.epochs = 2;
    o.batch = 50;
    o.device = "cuda";
    if (gaussian) {
      o.cd.visible = rbm::unit_kind::gaussian;
      o.cd.lr = 0.01f;
      o.standardize = true;
    }
    const auto a = rbm::train(host, o), b = rbm::train(on_gpu, o);
    SCOPED_TRACE(gaussian ? "gaussian" : "bernoulli");
    ASSERT_EQ(a.params.w.size(), b.params.w.size());
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < a.params.w.size(); ++i)
      diff += std::pow(a.params.w[i] - b.params.w[i], 2), norm += std::pow(a.params.w[i], 2);
    EXPECT_LT(std::sqrt(diff / norm), 1e-3);  // the same updates, up to the means' last bits
    EXPECT_NEAR(a.history.back().train.err_mean_field, b.history.back().train.err_mean_field,
                1e-3 * a.history.back().train.err_mean_field);
    if (gaussian) {
      ASSERT_EQ(b.data_mean.size(), 784u);
      for (int i = 0; i < 784; ++i) EXPECT_NEAR(b.data_mean[i], a.data_mean[i], 1e-5) << i;
    }
  }
  // NaN in the rows: refused, naming the count
  std::vector<float> bad = host.train.values;
  bad[17] = std::nanf("");
  bad[900] = INFINITY;
  auto dev_bad = rbm_gpu_test::upload(bad, st.view());
  on_gpu.train.device_values = dev_bad.data();
  rbm::train_options o;
  o.device = "cuda";
  o.any_values = true;
  EXPECT_NE(message_of([&] { rbm::train(on_gpu, o); }).find("holds 2 NaN or infinite values"),
            std::string::npos);
  on_gpu.train.device_values = host.train.values.data();  // a host pointer is not GPU memory
  EXPECT_NE(message_of([&] { rbm::train(on_gpu, o); }).find("not in GPU memory"), std::string::npos);
}

// Any element type and 2-D layout of a CUDA array imports as float32 rows; the summary counts what is
// not finite and spans the rest; standardisation rounds as the CPU's.
TEST(GpuKernels, DeviceArraysImportSummariseAndStandardise) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  const int rows = 37, cols = 11;
  std::vector<double> f64(std::size_t(rows) * cols * 2);  // every other column: a strided view
  for (std::size_t i = 0; i < f64.size(); ++i) f64[i] = 0.25 * double(i % 97) - 3.0;
  auto d64 = rbm_gpu_test::upload(f64, st.view());
  rbm::device_buffer<float> out(std::size_t(rows) * cols, st.view());
  rbm::import_matrix(d64.data(), rbm::element_type::f64, rows, cols, 2 * cols, 2, out.data(), st.view());
  const auto got = rbm_gpu_test::download(out, st.view());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      ASSERT_EQ(got[std::size_t(r) * cols + c], float(f64[std::size_t(r) * 2 * cols + 2 * c])) << r << "," << c;
  std::vector<std::uint8_t> u8(std::size_t(rows) * cols);
  for (std::size_t i = 0; i < u8.size(); ++i) u8[i] = std::uint8_t(i * 7);
  auto du8 = rbm_gpu_test::upload(u8, st.view());
  // column-major (Fortran) layout: row stride 1, column stride rows
  rbm::import_matrix(du8.data(), rbm::element_type::u8, rows, cols, 1, rows, out.data(), st.view());
  const auto got8 = rbm_gpu_test::download(out, st.view());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) ASSERT_EQ(got8[std::size_t(r) * cols + c], float(u8[std::size_t(c) * rows + r]));
  std::vector<float> x = got;
  x[3] = std::nanf("");
  auto dx = rbm_gpu_test::upload(x, st.view());
  const auto sum = rbm::summarize_values(dx.data(), x.size(), st.view());
  EXPECT_EQ(sum.nonfinite, 1);
  EXPECT_EQ(sum.min, -3.0f);
  EXPECT_EQ(sum.max, *std::max_element(got.begin(), got.end()));
  std::vector<float> mean(cols), sd(cols);
  auto dg = rbm_gpu_test::upload(got, st.view());
  rbm::column_mean_sd(dg.data(), rows, cols, mean.data(), sd.data(), st.view());
  rbm::standardize_columns(dg.data(), rows, cols, mean.data(), sd.data(), out.data(), st.view());
  const auto z = rbm_gpu_test::download(out, st.view());
  for (std::size_t i = 0; i < z.size(); ++i) ASSERT_EQ(z[i], (got[i] - mean[i % cols]) / sd[i % cols]) << i;
  EXPECT_EQ(rbm::device_of(dg.data()), rbm::device_of(out.data()));
  EXPECT_EQ(rbm::device_of(got.data()), -1);
}

}  // namespace
