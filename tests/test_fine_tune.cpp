// Fine-tuning a stack by backpropagation (rbm/host/fine_tune.hpp): one step against the gradient of a
// naive double-precision loss by central differences, for the classifier and the regressor; a
// regressor fitting a known function; fine-tuning lowering a digit stack's held-out error; the best
// held-out epoch kept; a diverging run stopping with its epoch named.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "helpers.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/fine_tune.hpp"
#include "rbm/host/stack.hpp"
#include "reference_cd.hpp"
#include "stack_helpers.hpp"

namespace {

using params = std::vector<rbm::model_params>;

// A hidden unit's log integral in long double from its definition (rbm/units.hpp's table): softplus,
// x^2/2 + log sqrt(2 pi), and for ReLU units + log Phi(x) with Phi by erfc.
double log_integral_ref(rbm::unit_kind k, double x) {
  if (k == rbm::unit_kind::bernoulli) return std::log1p(std::exp(x));
  const long double base = 0.5L * x * x + 0.5L * std::log(2.0L * 3.14159265358979323846L);
  if (k == rbm::unit_kind::gaussian) return double(base);
  return double(base + std::log(0.5L * std::erfc(-x / std::sqrt(2.0L))));
}

// The up-pass in double through the first `count` layers (each layer's hidden means).
std::vector<double> up(const params& l, int count, const std::vector<double>& x) {
  std::vector<double> a = x;
  for (int k = 0; k < count; ++k) {
    const rbm::model_params& p = l[k];
    std::vector<double> next(p.nh);
    for (int j = 0; j < p.nh; ++j) {
      double z = p.hb[j];
      for (int i = 0; i < p.nv; ++i) z += a[i] * double(p.w[std::size_t(i) * p.nh + j]);
      next[j] = rbm_test::hidden_mean_ref(p.hidden, z);
    }
    a = next;
  }
  return a;
}

// Mean -log p(y | x) of the class RBM head over the up-pass, in double.
double class_loss(const params& l, const std::vector<float>& x, const std::vector<int>& y) {
  const rbm::model_params& t = l.back();
  const int rows = int(y.size());
  double sum = 0;
  for (int r = 0; r < rows; ++r) {
    const std::vector<double> a = up(l, int(l.size()) - 1, std::vector<double>(x.begin() + r * l[0].nv, x.begin() + (r + 1) * l[0].nv));
    std::vector<double> z(t.classes);
    for (int k = 0; k < t.classes; ++k) {
      z[k] = t.label_b[k];
      for (int j = 0; j < t.nh; ++j) {
        double o = t.hb[j] + t.label_w[std::size_t(k) * t.nh + j];
        for (int i = 0; i < t.nv; ++i) o += a[i] * double(t.w[std::size_t(i) * t.nh + j]);
        z[k] += log_integral_ref(t.hidden, o);
      }
    }
    double m = z[0], s = 0;
    for (double v : z) m = std::max(m, v);
    for (double v : z) s += std::exp(v - m);
    sum += m + std::log(s) - z[y[r]];
  }
  return sum / rows;
}

// Mean of sum e^2 / 2 of the linear head over the up-pass through every layer, in double.
double regression_loss(const params& l, const rbm::linear_head& h, const std::vector<float>& x, const std::vector<float>& t) {
  const int rows = int(x.size()) / l[0].nv;
  double sum = 0;
  for (int r = 0; r < rows; ++r) {
    const std::vector<double> a = up(l, int(l.size()), std::vector<double>(x.begin() + r * l[0].nv, x.begin() + (r + 1) * l[0].nv));
    for (int o = 0; o < h.outputs; ++o) {
      double out = h.b[o];
      for (int i = 0; i < h.inputs; ++i) out += a[i] * double(h.w[std::size_t(i) * h.outputs + o]);
      const double e = out - t[std::size_t(r) * h.outputs + o];
      sum += 0.5 * e * e;
    }
  }
  return sum / rows;
}

// n values uniform in [0, 1) from generator `gen`.
std::vector<float> uniform_values(std::size_t n, std::mt19937& gen) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// One full-batch step with lr 1 and no momentum moves each parameter by minus the mean gradient.
rbm::fine_tune_options one_step(int rows) {
  rbm::fine_tune_options o;
  o.device = "cpu";  // the CPU's maths (tests/gpu/test_gpu_fine_tune.cpp holds the GPU's to it)
  o.epochs = 1;
  o.batch = rows;
  o.method = rbm::optimizer::sgd;
  o.lr = 1.0f;
  o.momentum = 0.0f;
  o.threads = 2;
  return o;
}

// Each parameter's step against the central difference of `loss` (perturbing a copy in float: a
// step of 1e-3 where the loss is smooth keeps the difference's error near 1e-6).
template <class Loss>
void expect_steps_are_gradients(std::vector<float>& before, const std::vector<float>& after, const Loss& loss,
                                const char* name) {
  for (std::size_t i = 0; i < before.size(); ++i) {
    const float keep = before[i], h = 1e-3f;
    before[i] = keep + h;
    const double up_loss = loss();
    before[i] = keep - h;
    const double down_loss = loss();
    before[i] = keep;
    const double grad = (up_loss - down_loss) / (2.0 * double(h));
    EXPECT_NEAR(double(keep) - double(after[i]), grad, 2e-4 + 1e-3 * std::fabs(grad)) << name << "[" << i << "]";
  }
}

// One classifier step on rows x, labels y moves every weight, hidden bias and label parameter by the
// gradient of class_loss, and no visible bias.
void expect_classifier_step_is_gradient(params& layers, const std::vector<float>& x, const std::vector<int>& y) {
  const int rows = int(y.size());
  params tuned = layers;
  rbm::fine_tune_classifier(tuned, {x.data(), y.data(), nullptr, rows}, {}, one_step(rows));
  auto loss = [&] { return class_loss(layers, x, y); };
  for (std::size_t l = 0; l < layers.size(); ++l) {
    expect_steps_are_gradients(layers[l].w, tuned[l].w, loss, "W");
    expect_steps_are_gradients(layers[l].hb, tuned[l].hb, loss, "hb");
    EXPECT_EQ(layers[l].vb, tuned[l].vb);  // the visible biases are not in the network
  }
  expect_steps_are_gradients(layers.back().label_w, tuned.back().label_w, loss, "label_W");
  expect_steps_are_gradients(layers.back().label_b, tuned.back().label_b, loss, "label_b");
}

}  // namespace

TEST(FineTune, AClassifierStepIsTheGradientOfCrossEntropy) {
  params layers = rbm_test::random_stack({6, 5, 4}, 3, 0.8f, 3);
  std::mt19937 gen(5);
  const int rows = 7;
  const std::vector<float> x = uniform_values(std::size_t(rows) * 6, gen);
  const std::vector<int> y{0, 2, 1, 1, 0, 2, 2};
  expect_classifier_step_is_gradient(layers, x, y);
}

TEST(FineTune, ARegressorStepIsTheGradientOfSquaredError) {
  params layers = rbm_test::random_stack({5, 4, 3}, 0, 0.8f, 8);
  rbm::linear_head h{3, 2, {0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.6f}, {0.1f, -0.3f}};
  std::mt19937 gen(9);
  const int rows = 6;
  const std::vector<float> x = uniform_values(std::size_t(rows) * 5, gen), t = uniform_values(std::size_t(rows) * 2, gen);
  params tuned = layers;
  rbm::linear_head th = h;
  rbm::fine_tune_regressor(tuned, th, {x.data(), nullptr, t.data(), rows}, {}, one_step(rows));
  auto loss = [&] { return regression_loss(layers, h, x, t); };
  for (int l = 0; l < 2; ++l) {
    expect_steps_are_gradients(layers[l].w, tuned[l].w, loss, "W");
    expect_steps_are_gradients(layers[l].hb, tuned[l].hb, loss, "hb");
  }
  expect_steps_are_gradients(h.w, th.w, loss, "head w");
  expect_steps_are_gradients(h.b, th.b, loss, "head b");
}

// Continuous hidden units in the up-pass (their means, and their variances as the slope) and on the top
// under the class head (their log integral in place of softplus), against the double reference.
TEST(FineTune, StepsAreTheGradientsThroughEveryHiddenKind) {
  using rbm::unit_kind;
  std::mt19937 gen(15);
  const int rows = 7;
  const std::vector<float> x = uniform_values(std::size_t(rows) * 6, gen), t = uniform_values(std::size_t(rows) * 2, gen);
  const std::vector<int> y{0, 2, 1, 1, 0, 2, 2};
  for (const auto& kinds : {std::vector<unit_kind>{unit_kind::relu, unit_kind::bernoulli},
                            std::vector<unit_kind>{unit_kind::gaussian, unit_kind::bernoulli},
                            std::vector<unit_kind>{unit_kind::bernoulli, unit_kind::relu}}) {
    SCOPED_TRACE(std::string(rbm::to_string(kinds[0])) + "," + rbm::to_string(kinds[1]));
    params layers = rbm_test::random_stack({6, 5, 4}, 3, 0.8f, 3, kinds);
    ASSERT_EQ(layers[1].gaussian(), kinds[0] != unit_kind::bernoulli);
    expect_classifier_step_is_gradient(layers, x, y);

    params reg = rbm_test::random_stack({6, 5, 4}, 0, 0.8f, 4, kinds);  // a regressor over both layers' kinds
    rbm::linear_head h{4, 2, {0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.6f, 0.2f, 0.1f}, {0.1f, -0.3f}};
    params reg_tuned = reg;
    rbm::linear_head th = h;
    rbm::fine_tune_regressor(reg_tuned, th, {x.data(), nullptr, t.data(), rows}, {}, one_step(rows));
    auto reg_loss = [&] { return regression_loss(reg, h, x, t); };
    for (int l = 0; l < 2; ++l) expect_steps_are_gradients(reg[l].w, reg_tuned[l].w, reg_loss, "regressor W");
  }
  // A Gaussian layer above the bottom is read as it is: with sigma 1 only.
  params off = rbm_test::random_stack({6, 5, 4}, 3, 0.8f, 3, {unit_kind::relu, unit_kind::bernoulli});
  off[1].sigma[2] = 0.5f;
  EXPECT_THROW(rbm::fine_tune_classifier(off, {x.data(), y.data(), nullptr, rows}, {}, one_step(rows)),
               rbm::precondition_error);
}

TEST(FineTune, AdamsFirstStepIsTheRateAgainstTheGradientsSign) {
  // m = (1 - b1) g, v = (1 - b2) g^2, bias-corrected: the step is lr g / (|g| + eps) = lr sign(g).
  params layers = rbm_test::random_stack({6, 5, 4}, 3, 0.8f, 3);
  std::vector<float> x(std::size_t(5) * 6, 0.3f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) / 7.0f;
  const std::vector<int> y{0, 2, 1, 1, 0};
  params sgd = layers, adam = layers;
  rbm::fine_tune_classifier(sgd, {x.data(), y.data(), nullptr, 5}, {}, one_step(5));
  rbm::fine_tune_options o = one_step(5);
  o.method = rbm::optimizer::adam;
  o.lr = 1e-3f;
  rbm::fine_tune_classifier(adam, {x.data(), y.data(), nullptr, 5}, {}, o);
  for (int l = 0; l < 2; ++l)
    for (std::size_t i = 0; i < layers[l].w.size(); ++i) {
      const double g = double(layers[l].w[i]) - sgd[l].w[i];  // the mean gradient (lr 1, SGD)
      if (std::fabs(g) < 1e-5) continue;
      EXPECT_NEAR(double(layers[l].w[i]) - adam[l].w[i], 1e-3 * (g > 0 ? 1 : -1), 1e-6) << "layer " << l << " W[" << i << "]";
    }
}

TEST(FineTune, ARegressorFitsAKnownFunction) {
  // y = sin(2 pi x0) x1 + x2^2 on [0, 1]^3: a 3-32-16 network from small random weights, its head at
  // the targets' mean; the best held-out squared error (the epoch kept) far below the variance.
  params layers = rbm_test::random_stack({3, 32, 16}, 0, 0.3f, 12);
  auto f = [](const float* x) { return std::sin(6.2831853f * x[0]) * x[1] + x[2] * x[2]; };
  std::mt19937 gen(13);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  auto make = [&](int rows, std::vector<float>& x, std::vector<float>& t) {
    x.resize(std::size_t(rows) * 3);
    t.resize(rows);
    for (float& v : x) v = u(gen);
    for (int r = 0; r < rows; ++r) t[r] = f(&x[std::size_t(r) * 3]);
  };
  std::vector<float> x, t, hx, ht;
  make(4000, x, t);
  make(1000, hx, ht);
  double mean = 0, var = 0;
  for (float v : ht) mean += v / ht.size();
  for (float v : ht) var += (v - mean) * (v - mean) / ht.size();
  rbm::linear_head h{16, 1, std::vector<float>(16, 0.0f), {float(mean)}};
  rbm::fine_tune_options o;
  o.device = "cpu";
  o.method = rbm::optimizer::sgd;
  o.epochs = 40;
  o.batch = 20;
  o.lr = 0.1f;
  o.patience = 0;
  o.threads = 2;
  const auto history = rbm::fine_tune_regressor(layers, h, {x.data(), nullptr, t.data(), 4000}, {hx.data(), nullptr, ht.data(), 1000}, o);
  double best = history[0].held_out_loss;
  for (const auto& e : history) best = std::min(best, e.held_out_loss);
  EXPECT_LT(best, 0.03 * var) << "variance " << var;
  const std::vector<float> out = rbm::regress(layers, h, hx.data(), 1000);
  double mse = 0;
  for (int r = 0; r < 1000; ++r) mse += (out[r] - ht[r]) * (out[r] - ht[r]) / 1000;
  EXPECT_NEAR(mse, best, 1e-6);  // the best held-out epoch's network, as regress() computes it
}

TEST(FineTune, LowersTheHeldOutErrorOfADigitStackAndKeepsTheBestEpoch) {
  const rbm::dataset d = rbm_test::digits_subset(2000, 1000);
  const rbm::stack_result greedy = rbm::train_stack(d, rbm_test::labelled_stack());
  const std::vector<float> x = rbm::model_inputs(d.train, false, {}, {}), hx = rbm::model_inputs(d.test, false, {}, {});
  const std::vector<int> y(d.train.labels.begin(), d.train.labels.end()), hy(d.test.labels.begin(), d.test.labels.end());
  auto held_out_error = [&](const params& layers) {
    rbm::stack_model m;
    m.layers = layers;
    const std::vector<float> f = rbm::features_at(m, hx.data(), 1000, int(layers.size()) - 1);
    std::vector<double> lp(std::size_t(1000) * 10);
    rbm::class_log_probs(layers.back(), f.data(), 1000, lp.data());
    int wrong = 0;
    for (int r = 0; r < 1000; ++r)
      wrong += std::max_element(&lp[std::size_t(r) * 10], &lp[std::size_t(r) * 10] + 10) - &lp[std::size_t(r) * 10] != hy[r];
    return wrong / 1000.0;
  };
  params tuned = greedy.model.layers;
  rbm::fine_tune_options o;
  o.device = "cpu";
  o.epochs = 8;
  o.patience = 3;
  o.threads = 2;
  const auto history = rbm::fine_tune_classifier(tuned, {x.data(), y.data(), nullptr, 2000}, {hx.data(), hy.data(), nullptr, 1000}, o);
  const double before = held_out_error(greedy.model.layers), after = held_out_error(tuned);
  EXPECT_LT(after, before - 0.02) << "greedy " << before << ", fine-tuned " << after;
  double best = 0;
  for (const auto& e : history) best = std::max(best, e.held_out_accuracy);
  EXPECT_NEAR(1.0 - after, best, 1e-9);  // the parameters are the best epoch's
  EXPECT_EQ(tuned[0].vb, greedy.model.layers[0].vb);
}

TEST(FineTune, ADivergingRunStopsNamingTheEpoch) {
  params layers = rbm_test::random_stack({6, 5, 4}, 0, 0.5f, 4);
  rbm::linear_head h{4, 1, {0, 0, 0, 0}, {0}};
  std::vector<float> x(60, 0.5f), t(10, 1.0f);
  rbm::fine_tune_options o;
  o.device = "cpu";
  o.method = rbm::optimizer::sgd;
  o.lr = 1e30f;
  o.epochs = 3;
  o.batch = 5;
  try {
    rbm::fine_tune_regressor(layers, h, {x.data(), nullptr, t.data(), 10}, {}, o);
    FAIL() << "no error";
  } catch (const rbm::error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged at epoch "), std::string::npos) << e.what();
  }
}

TEST(FineTune, RefusesWhatCannotBeTuned) {
  params layers = rbm_test::random_stack({6, 5}, 0, 0.5f, 4);
  std::vector<float> x(12, 0.5f);
  std::vector<int> y{0, 1};
  rbm::fine_tune_options o;
  o.epochs = 1;
  EXPECT_THROW(rbm::fine_tune_classifier(layers, {x.data(), y.data(), nullptr, 2}, {}, o), rbm::precondition_error);
  layers.back().add_labels(2);
  y[1] = 2;
  EXPECT_THROW(rbm::fine_tune_classifier(layers, {x.data(), y.data(), nullptr, 2}, {}, o), rbm::precondition_error);
  y[1] = 1;
  o.epochs = 0;
  EXPECT_THROW(rbm::fine_tune_classifier(layers, {x.data(), y.data(), nullptr, 2}, {}, o), rbm::precondition_error);
}
