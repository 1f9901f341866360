// The shared scalar maths against double-precision definitions, including the extreme tails.
#include <gtest/gtest.h>

#include <cmath>

#include "rbm/math.hpp"

TEST(Math, SigmoidMatchesDefinitionAndSaturatesCleanly) {
  for (double x = -30; x <= 30; x += 0.37) {
    const double ref = 1.0 / (1.0 + std::exp(-x));
    EXPECT_NEAR(rbm::sigmoid(float(x)), ref, 2e-7 * std::max(1.0, ref)) << "x = " << x;
  }
  // No overflow to NaN for huge inputs; the tail keeps relative precision.
  EXPECT_EQ(rbm::sigmoid(1e30f), 1.0f);
  EXPECT_EQ(rbm::sigmoid(-1e30f), 0.0f);
  EXPECT_NEAR(rbm::sigmoid(-80.0f) / std::exp(-80.0), 1.0, 1e-5);
}

TEST(Math, SoftplusMatchesDefinitionWithoutOverflow) {
  for (double x = -40; x <= 40; x += 0.53) {
    const double ref = std::log1p(std::exp(x));
    EXPECT_NEAR(rbm::softplus(float(x)), ref, 1e-6 * std::max(1.0, ref)) << "x = " << x;
  }
  EXPECT_FLOAT_EQ(rbm::softplus(1000.0f), 1000.0f);
  EXPECT_GT(rbm::softplus(-90.0f), 0.0f);
}

TEST(Math, BernoulliUsesStrictComparisonOnHalfOpenUniforms) {
  // u in (0, 1]: p = 1 always fires except at u = 1 exactly, p = 0 never fires.
  EXPECT_EQ(rbm::bernoulli(1.0f, 0.999f), 1.0f);
  EXPECT_EQ(rbm::bernoulli(0.0f, 1e-9f), 0.0f);
  EXPECT_EQ(rbm::bernoulli(0.5f, 0.5f), 0.0f);
  EXPECT_EQ(rbm::bernoulli(0.5f, 0.49f), 1.0f);
}
