// The CPU backend's fused sampling passes (fast-math, vectorised, cloned per ISA) against the
// double-precision definition: the same probabilities to float precision, and the same states except
// where the uniform lies within rounding of its probability.
#include <gtest/gtest.h>

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

}  // namespace
