// Every kernel of rbm::cuda against the CPU maths, on fresh random inputs of odd sizes, outputs poisoned.
#include <cuda_runtime_api.h>

#include "gpu_test.hpp"
#include "rbm/error.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/statistics.hpp"

using namespace rbm_gpu_test;

namespace {

TEST(GpuKernels, SigmoidSampleMatchesSharedMaths) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  std::mt19937 rng(1);
  const int rows = 37, cols = 53;
  const auto pre = random_vector(rows * cols, rng, -12, 12), bias = random_vector(cols, rng, -3, 3),
             u = random_vector(rows * cols, rng, 1e-7f, 1);
  auto d_pre = upload(pre, s), d_bias = upload(bias, s), d_u = upload(u, s);
  auto d_prob = poisoned(pre.size(), s), d_state = poisoned(pre.size(), s);
  rbm::sigmoid_sample(d_pre.data(), d_bias.data(), d_u.data(), d_prob.data(), d_state.data(), rows, cols, s);
  const auto prob = download(d_prob, s), state = download(d_state, s);
  for (int i = 0; i < rows * cols; ++i) {
    const float p = rbm::sigmoid(pre[i] + bias[i % cols]);
    // Same expression, but nvcc's expf may differ from glibc's by an ulp or two.
    ASSERT_NEAR(prob[i], p, 2e-7f) << i;
    if (std::fabs(p - u[i]) > 1e-6f) ASSERT_EQ(state[i], rbm::bernoulli(p, u[i])) << i;
  }
  // In place (prob aliases pre) and without states.
  rbm::sigmoid_sample(d_pre.data(), d_bias.data(), nullptr, d_pre.data(), nullptr, rows, cols, s);
  const auto inplace = download(d_pre, s);
  for (int i = 0; i < rows * cols; ++i) ASSERT_EQ(inplace[i], prob[i]);
}

TEST(GpuKernels, ByteConversionAndGatherAreExact) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  const int n = 23, cols = 29;
  std::vector<std::uint8_t> data(n * cols);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 13 % 256);
  const std::vector<int> idx = {22, 0, 7, 7, 13};
  auto d_data = upload(data, s);
  auto d_idx = upload(idx, s);
  auto d_all = poisoned(data.size(), s), d_rows = poisoned(idx.size() * cols, s);
  rbm::bytes_to_unit(d_data.data(), d_all.data(), data.size(), s);
  rbm::gather_to_unit(d_data.data(), d_idx.data(), int(idx.size()), cols, d_rows.data(), s);
  const auto all = download(d_all, s), rows = download(d_rows, s);
  for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(all[i], rbm::pixel_to_unit(data[i]));
  for (std::size_t r = 0; r < idx.size(); ++r)
    for (int c = 0; c < cols; ++c) ASSERT_EQ(rows[r * cols + c], rbm::pixel_to_unit(data[idx[r] * cols + c]));
}

TEST(GpuKernels, BiasUpdateMatchesDoubleReference) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  std::mt19937 rng(2);
  // Shapes around the kernel's 32-column tiles and 32 row stripes: a partial last tile, fewer rows
  // than stripes, a thin layer over a long batch; with and without the sparsity term.
  struct shape {
    int rows, cols;
    bool sparsity;
  };
  for (const shape sh : {shape{61, 301, true}, shape{3, 33, true}, shape{1000, 50, false}, shape{4096, 784, false}}) {
    const int rows = sh.rows, cols = sh.cols;
    const auto pos = random_vector(rows * cols, rng, 0, 1), neg = random_vector(rows * cols, rng, 0, 1),
               act = random_vector(rows * cols, rng, 0, 1), vel0 = random_vector(cols, rng, -0.1f, 0.1f),
               bias0 = random_vector(cols, rng, -1, 1);
    auto d_pos = upload(pos, s), d_neg = upload(neg, s), d_act = upload(act, s), d_vel = upload(vel0, s),
         d_bias = upload(bias0, s);
    const float lr = 0.05f, mom = 0.9f, target = 0.1f, cost = sh.sparsity ? 0.3f : 0.0f;
    rbm::bias_update(d_pos.data(), d_neg.data(), sh.sparsity ? d_act.data() : nullptr, rows, cols, lr, mom, target,
                     cost, d_vel.data(), d_bias.data(), s);
    const auto vel = download(d_vel, s), bias = download(d_bias, s);
    for (int c = 0; c < cols; ++c) {
      double g = 0, q = 0;
      for (int r = 0; r < rows; ++r) g += double(pos[r * cols + c]) - neg[r * cols + c], q += act[r * cols + c];
      g = g / rows + cost * (target - q / rows);
      const double v = mom * vel0[c] + lr * g;
      // Float partial sums of at most 128 terms in [-1, 1], then 32 of those, divided by rows.
      ASSERT_NEAR(vel[c], v, 1e-6) << rows << "x" << cols << ", column " << c;
      ASSERT_NEAR(bias[c], bias0[c] + v, 1e-6) << rows << "x" << cols << ", column " << c;
    }
  }
}

TEST(GpuKernels, WeightPassesAndReductionsMatchCpu) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  std::mt19937 rng(3);
  const std::size_t n = 100003;
  const auto w = random_vector(n, rng, -1, 1), vel0 = random_vector(n, rng, -1, 1);
  auto d_w = upload(w, s), d_vel = upload(vel0, s);
  rbm::apply_weight_step(d_w.data(), d_vel.data(), n, 0.01f, s);
  const auto vel = download(d_vel, s), w1 = download(d_w, s);
  // The CPU's pass on the same inputs: both round the product and then the difference (never one
  // FMA), so they agree exactly, even where vel0 and 0.01 w nearly cancel.
  auto cpu_w = w, cpu_vel = vel0;
  rbm::cpu::apply_weight_step(cpu_w.data(), cpu_vel.data(), n, 0.01f);
  for (std::size_t i = 0; i < n; ++i) {
    volatile float product = 0.01f * w[i];  // volatile: rounded to float whatever this file's flags
    ASSERT_EQ(vel[i], vel0[i] - product) << i;
    ASSERT_EQ(vel[i], cpu_vel[i]) << i;
    ASSERT_EQ(w1[i], w[i] + vel[i]) << i;
    ASSERT_EQ(w1[i], cpu_w[i]) << i;
  }

  const auto a = random_vector(n, rng, 0, 1), b = random_vector(n, rng, 0, 1);
  auto d_a = upload(a, s), d_b = upload(b, s);
  auto d_acc = upload(std::vector<double>{1.5}, s);
  rbm::accumulate_squared_error(d_a.data(), d_b.data(), n, d_acc.data(), s);
  double ref = 1.5;
  for (std::size_t i = 0; i < n; ++i) ref += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  EXPECT_NEAR(download(d_acc, s)[0], ref, 1e-9 * ref);

  // Free energy against the CPU backend's.
  const int rows = 17, nv = 41, nh = 19;
  rbm::model_params p(nv, nh);
  p.w = random_vector(nv * nh, rng, -1, 1);
  p.vb = random_vector(nv, rng, -1, 1);
  p.hb = random_vector(nh, rng, -1, 1);
  const auto v = random_vector(rows * nv, rng, 0, 1);
  std::vector<float> pre(rows * nh);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < nh; ++j) {
      double x = 0;
      for (int i = 0; i < nv; ++i) x += double(v[r * nv + i]) * p.w[i * nh + j];
      pre[r * nh + j] = float(x);
    }
  std::vector<double> ref_f(rows);
  rbm::cpu_free_energy(p, v.data(), rows, ref_f.data());
  auto d_v = upload(v, s), d_vb = upload(p.vb, s), d_pre = upload(pre, s), d_hb = upload(p.hb, s);
  auto d_out = poisoned(rows, s);
  auto d_sum = upload(std::vector<double>{0.0}, s);
  rbm::free_energy(d_v.data(), d_vb.data(), d_pre.data(), d_hb.data(), rows, nv, nh, d_out.data(), d_sum.data(), s);
  const auto f = download(d_out, s);
  double total = 0;
  for (int r = 0; r < rows; ++r) {
    EXPECT_NEAR(f[r], ref_f[r], 1e-4 * std::max(1.0, std::fabs(ref_f[r])));
    total += ref_f[r];
  }
  EXPECT_NEAR(download(d_sum, s)[0], total, 1e-4 * std::fabs(total));
}

// --standardize's statistics through Thrust against the CPU's double sums, a constant column included
// (its sd is 1), on a non-blocking stream (the buffers are ordered on it, not on the default stream).
TEST(GpuKernels, ColumnMeanAndSdMatchTheCpu) {
  RBM_REQUIRE_GPU();
  cudaStream_t raw = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&raw, cudaStreamNonBlocking), cudaSuccess);
  const rbm::stream_view s(raw);
  const int rows = 1531, cols = 37;
  std::mt19937 rng(3);
  std::vector<float> x(std::size_t(rows) * cols);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) x[std::size_t(r) * cols + c] = c == 5 ? 7.25f : 100.0f * c + (1 + c) * n(rng);
  std::vector<float> mean(cols), sd(cols), cpu_mean, cpu_sd;
  {
    auto d = upload(x, s);
    rbm::column_mean_sd(d.data(), rows, cols, mean.data(), sd.data(), s);
  }
  rbm::fit_independent_gaussians(x.data(), rows, cols, cpu_mean, cpu_sd);
  for (int c = 0; c < cols; ++c) {
    EXPECT_NEAR(mean[c], cpu_mean[c], 1e-6 * (1 + std::fabs(cpu_mean[c]))) << c;
    EXPECT_NEAR(sd[c], cpu_sd[c], 1e-5 * cpu_sd[c]) << c;
  }
  EXPECT_EQ(mean[5], 7.25f);
  EXPECT_EQ(sd[5], 1.0f);
  cudaStreamSynchronize(raw);
  cudaStreamDestroy(raw);
}

TEST(GpuKernels, OutOfMemoryNamesTheRequest) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  try {
    rbm::device_buffer<float> huge(std::size_t(1) << 50, st.view());  // 4 PiB
    FAIL() << "allocation of 4 PiB succeeded";
  } catch (const rbm::out_of_memory& e) {
    EXPECT_NE(std::string(e.what()).find("asked for 4503599627370496 bytes"), std::string::npos) << e.what();
    EXPECT_EQ(e.requested(), std::size_t(1) << 52);
  }
}

}  // namespace
