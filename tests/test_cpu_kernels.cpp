// The CPU backend's fused sampling passes (fast-math, vectorised, cloned per ISA) against the
// double-precision definition: the same probabilities to float precision, and the same states except
// where the uniform lies within rounding of its probability.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "rbm/host/cpu_kernels.hpp"

namespace {

struct layer {
  int rows = 7, cols = 301;  // odd sizes: vector bodies and scalar tails
  std::vector<float> x, bias, u;
};

layer random_layer() {
  layer l;
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> pre(-20.0f, 20.0f), unit(0.0f, 1.0f);
  l.x.resize(std::size_t(l.rows) * l.cols);
  l.u.resize(l.x.size());
  l.bias.resize(l.cols);
  for (float& b : l.bias) b = pre(gen) / 4;
  for (std::size_t i = 0; i < l.x.size(); ++i) {
    l.x[i] = pre(gen);
    l.u[i] = std::max(unit(gen), 1e-9f);  // (0, 1], as Philox gives
  }
  // Extremes (the passes are built with -ffast-math, so finite ones): saturated pre-activations, and
  // u = 1, never below a probability of 1.
  l.x[0] = 1e30f, l.x[1] = -1e30f, l.x[2] = 90.0f, l.x[3] = -90.0f, l.x[4] = 200.0f, l.u[4] = 1.0f;
  return l;
}

double sig(double a) { return 1.0 / (1.0 + std::exp(-a)); }

TEST(CpuKernels, FusedSamplingMatchesDoublePrecisionDefinition) {
  const layer l = random_layer();
  std::vector<float> probs = l.x, states(l.x.size(), -1.0f), only = l.x;
  rbm::cpu::sigmoid_sample_rows(probs.data(), l.bias.data(), l.u.data(), l.rows, l.cols, states.data());
  rbm::cpu::sample_logistic_rows(only.data(), l.bias.data(), l.u.data(), l.rows, l.cols);
  int ones = 0;
  for (int r = 0; r < l.rows; ++r)
    for (int c = 0; c < l.cols; ++c) {
      const std::size_t i = std::size_t(r) * l.cols + c;
      const double p = sig(double(l.x[i]) + l.bias[c]);
      EXPECT_NEAR(probs[i], p, 1e-6) << "element " << i;
      const bool ambiguous = std::fabs(p - l.u[i]) < 1e-6;
      if (!ambiguous) {
        const float want = l.u[i] < p ? 1.0f : 0.0f;
        EXPECT_EQ(states[i], want) << "element " << i << ": p " << p << ", u " << l.u[i];
        EXPECT_EQ(only[i], want) << "element " << i << ": p " << p << ", u " << l.u[i];
      }
      EXPECT_EQ(states[i], l.u[i] < probs[i] ? 1.0f : 0.0f) << "states follow the stored probabilities";
      ones += only[i] == 1.0f;
    }
  EXPECT_EQ(only[0], 1.0f);
  EXPECT_EQ(only[1], 0.0f);
  EXPECT_EQ(only[2], 1.0f);
  EXPECT_EQ(only[3], 0.0f);
  EXPECT_EQ(only[4], 0.0f);  // u = 1 is never below p
  EXPECT_GT(ones, int(l.x.size()) / 4);
  EXPECT_LT(ones, int(l.x.size()) * 3 / 4);
}

TEST(CpuKernels, AisPassesMatchDoublePrecisionDefinitions) {
  const int rows = 5, nv = 37, nh = 29;
  std::mt19937 gen(4);
  std::uniform_real_distribution<float> pre(-30.0f, 30.0f), unit(1e-7f, 1.0f);
  auto fill = [&](std::vector<float>& x, auto& dist) {
    for (float& e : x) e = dist(gen);
  };
  std::vector<float> hpre(rows * nh), vpre(rows * nv), hb(nh), vb(nv), bA(nv), uh(hpre.size()), uv(vpre.size()),
      dvb(nv), v(vpre.size());
  for (auto* x : {&hpre, &vpre, &hb, &vb, &bA, &dvb}) fill(*x, pre);
  for (auto* x : {&uh, &uv}) fill(*x, unit);
  for (float& e : v) e = unit(gen) < 0.5f ? 1.0f : 0.0f;
  const double beta = 0.37, beta_prev = 0.3699;
  std::vector<float> h(hpre.size()), vs(vpre.size()), v0(vpre.size());
  rbm::cpu::ais_sample_hidden(hpre.data(), hb.data(), beta, uh.data(), rows, nh, h.data());
  rbm::cpu::ais_sample_visible(vpre.data(), vb.data(), bA.data(), beta, uv.data(), rows, nv, vs.data());
  rbm::cpu::ais_sample_visible(nullptr, nullptr, bA.data(), 0.0, uv.data(), rows, nv, v0.data());
  auto expect_state = [](double p, float u, float got, const char* what, int i) {
    if (std::fabs(p - u) > 1e-6) EXPECT_EQ(got, u < p ? 1.0f : 0.0f) << what << " element " << i;
  };
  for (int i = 0; i < rows * nh; ++i) expect_state(sig(beta * (double(hpre[i]) + hb[i % nh])), uh[i], h[i], "h", i);
  for (int i = 0; i < rows * nv; ++i) {
    const int c = i % nv;
    expect_state(sig((1 - beta) * bA[c] + beta * (double(vpre[i]) + vb[c])), uv[i], vs[i], "v", i);
    expect_state(sig(bA[c]), uv[i], v0[i], "base v", i);
  }
  std::vector<double> logw(rows, 1.5);
  rbm::cpu::ais_add_log_weights(v.data(), dvb.data(), hpre.data(), hb.data(), beta, beta_prev, rows, nv, nh,
                                logw.data());
  auto softplus = [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); };
  for (int r = 0; r < rows; ++r) {
    double lin = 0, hid = 0;
    for (int i = 0; i < nv; ++i) lin += double(v[r * nv + i]) * dvb[i];
    for (int j = 0; j < nh; ++j) {
      const double x = double(hpre[r * nh + j]) + hb[j];
      hid += softplus(beta * x) - softplus(beta_prev * x);
    }
    // Each softplus is rounded to float before the difference: ~1e-6 of its size, ~29 of them.
    EXPECT_NEAR(logw[r], 1.5 + (beta - beta_prev) * lin + hid, 1e-4) << "row " << r;
  }
}

// The weight step rounds the product decay * w and then the difference, never one FMA: the device
// kernel (update_kernels.cu, through rbm::decayed_velocity) computes exactly this, so the two agree
// bit for bit. The velocities are chosen to nearly cancel decay * w, where a fused multiply-add
// differs from two roundings by many ulps.
TEST(CpuKernels, WeightStepRoundsLikeTheDeviceKernel) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const float decay = 0.01f;
  const std::size_t n = 100003;
  std::vector<float> w(n), vel(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = unit(gen);
    vel[i] = i % 2 == 0 ? unit(gen) : decay * w[i] * (1.0f + unit(gen) * 1e-6f);  // near cancellation
  }
  auto w1 = w, vel1 = vel;
  rbm::cpu::apply_weight_step(w1.data(), vel1.data(), n, decay);
  int fused_would_differ = 0;
  for (std::size_t i = 0; i < n; ++i) {
    volatile float product = decay * w[i];  // rounded to float whatever this file's flags
    const float v = vel[i] - product;
    ASSERT_EQ(vel1[i], v) << i;
    ASSERT_EQ(w1[i], w[i] + v) << i;
    if (std::fma(-decay, w[i], vel[i]) != v) ++fused_would_differ;
  }
  EXPECT_GT(fused_would_differ, 1000);  // the inputs do tell the two roundings apart
}


// Step by step, each operation rounded to float on its own (volatile stores: no reassociation, no
// FMA, no reciprocal), as the device kernels round them (__fmul_rn, __fadd_rn, IEEE division).
float product(float a, float b) {
  volatile float r = a * b;
  return r;
}
float sum(float a, float b) {
  volatile float r = a + b;
  return r;
}
float quotient(float a, float b) {
  volatile float r = a / b;
  return r;
}

// The Gaussian passes are built with -ffast-math; they must still round as the device does, or the
// CPU/GPU bit-for-bit match fails for sigma != 1. GCC once reassociated (vb + sigma x) + sigma n into
// vb + sigma (x + n) (904 of 1961 elements differed) and vectorised v / sigma as rcpps + a Newton step
// (694 of 1961). These inputs tell those forms apart from step-by-step rounding (checked below).
TEST(CpuKernels, GaussianPassesRoundStepByStep) {
  const int rows = 37, cols = 53;  // 1961 elements: vector bodies and scalar tails
  std::mt19937 gen(29);
  std::uniform_real_distribution<float> wide(-3.0f, 3.0f), sd(0.3f, 3.0f);
  std::vector<float> x(std::size_t(rows) * cols), n(x.size()), vb(cols), sigma(cols);
  for (auto& a : x) a = wide(gen);
  for (auto& a : n) a = wide(gen);
  for (auto& a : vb) a = wide(gen);
  for (auto& a : sigma) a = sd(gen);
  std::vector<float> mean = x, sample = x, scaled(x.size());
  rbm::cpu::gaussian_visible_rows(mean.data(), vb.data(), sigma.data(), nullptr, rows, cols);
  rbm::cpu::gaussian_visible_rows(sample.data(), vb.data(), sigma.data(), n.data(), rows, cols);
  rbm::cpu::scale_by_sigma_rows(x.data(), sigma.data(), rows, cols, scaled.data());
  int mean_off = 0, sample_off = 0, scaled_off = 0, reassociated = 0, reciprocal = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = std::size_t(r) * cols + c;
      const float m = sum(vb[c], product(sigma[c], x[i]));
      const float s = sum(m, product(sigma[c], n[i]));
      const float q = quotient(x[i], sigma[c]);
      mean_off += mean[i] != m;
      sample_off += sample[i] != s;
      scaled_off += scaled[i] != q;
      reassociated += sum(vb[c], product(sigma[c], sum(x[i], n[i]))) != s;
      reciprocal += product(x[i], quotient(1.0f, sigma[c])) != q;
    }
  EXPECT_EQ(mean_off, 0) << "of " << x.size() << " means";
  EXPECT_EQ(sample_off, 0) << "of " << x.size() << " samples";
  EXPECT_EQ(scaled_off, 0) << "of " << x.size() << " quotients v / sigma";
  EXPECT_GT(reassociated, 100) << "the inputs tell (vb + sigma x) + sigma n from vb + sigma (x + n)";
  EXPECT_GT(reciprocal, 100) << "the inputs tell v / sigma from v * (1 / sigma)";
}

}  // namespace
