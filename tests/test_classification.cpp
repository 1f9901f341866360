// Label groups: the exact p(y | x) against the joint distribution enumerated, the discriminative update
// against finite differences of log p(y | x) in double, its momentum and decay, learning to classify
// the built-in digits, and the model file's label tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"
#include "reference_cd.hpp"

namespace {

rbm::model_params random_model(int nv, int nh, int k, bool gaussian, unsigned seed,
                               rbm::unit_kind hidden = rbm::unit_kind::bernoulli) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.7f);
  std::uniform_real_distribution<float> s(0.5f, 2.0f);
  rbm::model_params p(nv, nh, gaussian ? rbm::unit_kind::gaussian : rbm::unit_kind::bernoulli);
  for (auto* v : {&p.w, &p.vb, &p.hb}) std::generate(v->begin(), v->end(), [&] { return n(rng); });
  if (gaussian) std::generate(p.sigma.begin(), p.sigma.end(), [&] { return s(rng); });
  p.add_labels(k);
  for (auto* v : {&p.label_w, &p.label_b}) std::generate(v->begin(), v->end(), [&] { return n(rng); });
  p.hidden = hidden;
  return p;
}

// log p(y | x) from the definition, in double: log sum_h exp(-E(x, y, h)) over every hidden state,
// normalised over y; E(x, y, h) = V(x) - b_y - h.c - sum_ij x'_i W_ij h_j - sum_j U_yj h_j.
// Continuous hidden units: each unit's integral over its values by Simpson's rule (rbm_test::integrate),
// or, with `closed_form` (the gradient's finite differences, many of them), the units' log integral,
// itself checked against Simpson's rule in tests/test_hidden_units.cpp.
std::vector<double> enumerated_log_probs(const rbm::model_params& p, const std::vector<double>& x,
                                         bool closed_form = false) {
  std::vector<double> out(p.classes);
  for (int y = 0; p.hidden != rbm::unit_kind::bernoulli && y < p.classes; ++y) {
    out[y] = p.label_b[y];
    for (int j = 0; j < p.nh; ++j) {
      double in = p.hb[j] + p.label_w[std::size_t(y) * p.nh + j];
      for (int i = 0; i < p.nv; ++i) in += x[i] * p.w[std::size_t(i) * p.nh + j];
      out[y] += closed_form ? rbm::hidden_log_integral(p.hidden, in) : rbm_test::integrate(p.hidden, in).log_z;
    }
  }
  for (int y = 0; p.hidden == rbm::unit_kind::bernoulli && y < p.classes; ++y) {
    double top = -INFINITY;
    std::vector<double> terms;
    for (int h = 0; h < (1 << p.nh); ++h) {
      double e = -p.label_b[y];
      for (int j = 0; j < p.nh; ++j) {
        if (!((h >> j) & 1)) continue;
        double in = p.hb[j] + p.label_w[std::size_t(y) * p.nh + j];
        for (int i = 0; i < p.nv; ++i) in += x[i] / (p.gaussian() ? p.sigma[i] : 1.0) * p.w[std::size_t(i) * p.nh + j];
        e -= in;
      }
      terms.push_back(-e);
      top = std::max(top, -e);
    }
    double s = 0;
    for (double t : terms) s += std::exp(t - top);
    out[y] = top + std::log(s);  // the visible terms V(x) are the same for every y: left out
  }
  const double top = *std::max_element(out.begin(), out.end());
  double s = 0;
  for (double t : out) s += std::exp(t - top);
  for (double& t : out) t -= top + std::log(s);
  return out;
}

rbm::cd_config step_config(int nv, int nh, float lr, float momentum, float decay) {
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.lr = lr;
  c.momentum = momentum;
  c.weight_decay = decay;
  return c;
}

double mean_log_prob(const rbm::model_params& p, const std::vector<std::vector<double>>& xs, const std::vector<int>& ys) {
  double s = 0;
  for (std::size_t r = 0; r < xs.size(); ++r) s += enumerated_log_probs(p, xs[r], /*closed_form=*/true)[ys[r]];
  return s / double(xs.size());
}

TEST(Classification, ClassProbabilitiesAreTheJointsEnumerated) {
  for (const int kind : {0, 1, 2, 3}) {  // Bernoulli or Gaussian visible units; Gaussian or ReLU hidden ones
    const bool gaussian = kind == 1;
    const auto p = random_model(6, 4, 5, gaussian, 3,
                                kind < 2 ? rbm::unit_kind::bernoulli : kind == 2 ? rbm::unit_kind::gaussian : rbm::unit_kind::relu);
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(gaussian ? -2.0f : 0.0f, gaussian ? 2.0f : 1.0f);
    const int rows = 7;
    std::vector<float> v(std::size_t(rows) * p.nv);
    std::generate(v.begin(), v.end(), [&] { return u(rng); });
    std::vector<double> got(std::size_t(rows) * p.classes);
    rbm::class_log_probs(p, v.data(), rows, got.data());
    for (int r = 0; r < rows; ++r) {
      const std::vector<double> x(v.begin() + r * p.nv, v.begin() + (r + 1) * p.nv);
      const auto want = enumerated_log_probs(p, x);
      double total = 0;
      for (int k = 0; k < p.classes; ++k) {
        EXPECT_NEAR(got[std::size_t(r) * p.classes + k], want[k], 2e-5) << kind << ": " << r << "," << k;
        total += std::exp(got[std::size_t(r) * p.classes + k]);
      }
      EXPECT_NEAR(total, 1.0, 1e-9);
    }
  }
}

// lr 1, no momentum, no decay: the step moves each parameter by the batch mean of d log p(y | x) / d theta,
// which central differences of the enumerated log-probability give in double.
TEST(Classification, TheDiscriminativeStepIsTheExactGradient) {
  for (const int kind : {0, 1, 2, 3}) {  // Bernoulli or Gaussian visible units; Gaussian or ReLU hidden ones
    const bool gaussian = kind == 1;
    SCOPED_TRACE(kind);
    const auto p0 = random_model(5, 3, 4, gaussian, 11,
                                 kind < 2 ? rbm::unit_kind::bernoulli : kind == 2 ? rbm::unit_kind::gaussian : rbm::unit_kind::relu);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const int rows = 6;
    std::vector<float> v(std::size_t(rows) * p0.nv);
    std::generate(v.begin(), v.end(), [&] { return u(rng); });
    const std::vector<int> y = {0, 3, 1, 1, 2, 3};
    std::vector<std::vector<double>> xs;
    for (int r = 0; r < rows; ++r) xs.emplace_back(v.begin() + r * p0.nv, v.begin() + (r + 1) * p0.nv);
    const rbm::cd_config cfg = step_config(p0.nv, p0.nh, 1.0f, 0.0f, 0.0f);
    auto p = p0;
    rbm::training_state st;
    rbm::classification_workspace ws;
    const double loss = rbm::cpu_discriminative_step(p, st, v.data(), y.data(), rows, cfg, ws);
    EXPECT_NEAR(loss, -mean_log_prob(p0, xs, y), 2e-5);
    auto check = [&](std::vector<float> rbm::model_params::*field, const char* name) {
      for (std::size_t i = 0; i < (p0.*field).size(); ++i) {
        auto hi = p0, lo = p0;
        const double eps = 1e-3;
        (hi.*field)[i] += float(eps);
        (lo.*field)[i] -= float(eps);
        const double step = double((hi.*field)[i]) - double((lo.*field)[i]);
        const double grad = (mean_log_prob(hi, xs, y) - mean_log_prob(lo, xs, y)) / step;
        EXPECT_NEAR(double((p.*field)[i]) - double((p0.*field)[i]), grad, 2e-4 + 2e-3 * std::fabs(grad)) << name << " " << i;
      }
    };
    check(&rbm::model_params::w, "W");
    check(&rbm::model_params::hb, "hb");
    check(&rbm::model_params::label_w, "label_W");
    check(&rbm::model_params::label_b, "label_b");
    EXPECT_EQ(p.vb, p0.vb);  // the visible biases do not enter p(y | x)
    EXPECT_EQ(p.sigma, p0.sigma);
  }
}

// Momentum and decay follow the CD step's rule: vel = momentum vel + lr (gradient - decay W); W += vel.
TEST(Classification, MomentumAndDecayFollowTheCdRule) {
  const auto p0 = random_model(5, 3, 4, false, 2);
  std::vector<float> v(10, 0.5f);
  const std::vector<int> y = {1, 2};
  rbm::cd_config cfg = step_config(5, 3, 1.0f, 0.0f, 0.0f);
  auto plain = p0;
  rbm::training_state s0;
  rbm::classification_workspace ws;
  rbm::cpu_discriminative_step(plain, s0, v.data(), y.data(), 2, cfg, ws);  // the gradient at p0, times 1
  auto p = p0;
  rbm::training_state st;
  st.vel_w.assign(p.w.size(), 0.25f);
  st.vel_vb.assign(p.nv, 0.0f);
  st.vel_hb.assign(p.nh, 0.5f);
  st.vel_label_w.assign(p.label_w.size(), -0.5f);
  st.vel_label_b.assign(p.classes, 1.0f);
  cfg = step_config(5, 3, 0.1f, 0.5f, 0.01f);
  rbm::cpu_discriminative_step(p, st, v.data(), y.data(), 2, cfg, ws);
  for (std::size_t i = 0; i < p.w.size(); ++i) {
    const double grad = double(plain.w[i]) - p0.w[i];
    EXPECT_NEAR(p.w[i] - p0.w[i], 0.5 * 0.25 + 0.1 * (grad - 0.01 * p0.w[i]), 1e-5) << i;
  }
  for (std::size_t i = 0; i < p.label_w.size(); ++i) {
    const double grad = double(plain.label_w[i]) - p0.label_w[i];
    EXPECT_NEAR(p.label_w[i] - p0.label_w[i], 0.5 * -0.5 + 0.1 * (grad - 0.01 * p0.label_w[i]), 1e-5) << i;
  }
  for (int j = 0; j < p.nh; ++j)
    EXPECT_NEAR(p.hb[j] - p0.hb[j], 0.5 * 0.5 + 0.1 * (double(plain.hb[j]) - p0.hb[j]), 1e-5);  // no decay
  for (int k = 0; k < p.classes; ++k)
    EXPECT_NEAR(p.label_b[k] - p0.label_b[k], 0.5 + 0.1 * (double(plain.label_b[k]) - p0.label_b[k]), 1e-5);
}

// Trained discriminatively on 2,000 built-in digits, the exact p(y | x) classifies held-out ones.
TEST(Classification, DiscriminativeTrainingClassifiesHeldOutDigits) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  ASSERT_FALSE(d.train.labels.empty());
  rbm::truncate(d.train, 2000);
  rbm::truncate(d.test, 1000);
  const int nv = d.train.dim(), nh = 100, batch = 20;
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0.0f, 0.01f);
  rbm::model_params p(nv, nh);
  std::generate(p.w.begin(), p.w.end(), [&] { return n(rng); });
  p.add_labels(10);
  const rbm::cd_config cfg = step_config(nv, nh, 0.5f, 0.5f, 0.0f);
  rbm::training_state st;
  rbm::classification_workspace ws;
  auto values = [](const rbm::image_set& s, int first, int rows) {
    std::vector<float> v(std::size_t(rows) * s.dim());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(s.pixels[std::size_t(first) * s.dim() + i]);
    return v;
  };
  double first_loss = 0, last_loss = 0;
  for (int epoch = 0; epoch < 10; ++epoch) {
    double loss = 0;
    for (int b = 0; b < d.train.count / batch; ++b) {
      const auto v = values(d.train, b * batch, batch);
      std::vector<int> y(d.train.labels.begin() + b * batch, d.train.labels.begin() + (b + 1) * batch);
      loss += rbm::cpu_discriminative_step(p, st, v.data(), y.data(), batch, cfg, ws);
    }
    (epoch == 0 ? first_loss : last_loss) = loss / (d.train.count / batch);
  }
  EXPECT_LT(last_loss, 0.5 * first_loss);
  const auto test = values(d.test, 0, d.test.count);
  const int right = rbm_test::classified_right(p, test, d.test.labels);
  EXPECT_GT(right, 870) << "of 1000 held-out digits";  // chance: 100; 894 measured
}

TEST(Classification, TheModelFileKeepsTheLabelGroup) {
  const auto p = random_model(6, 4, 3, false, 1);
  const auto dir = rbm_test::fresh_dir("labels-file");
  const std::string path = (dir / "m.safetensors").string();
  rbm::save_model(path, p, {});
  const auto back = rbm::load_model(path);
  EXPECT_EQ(back.params.classes, 3);
  EXPECT_EQ(back.params.label_w, p.label_w);
  EXPECT_EQ(back.params.label_b, p.label_b);
  EXPECT_EQ(back.metadata.at("classes"), "3");
  // A label_W that does not fit the hidden layer is refused by name.
  auto f = rbm::read_tensors(path);
  f.tensors["label_W"] = {{3, 5}, std::vector<float>(15, 0.0f)};
  rbm::write_tensors(path, f);
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_model(path); }).find("label_W"), std::string::npos);
  // An unlabelled model stays as it was.
  rbm::model_params plain(6, 4);
  rbm::save_model(path, plain, {});
  EXPECT_EQ(rbm::load_model(path).params.classes, 0);
}

// The generative step against the same Gibbs chain computed in double from the same draws: the joint
// of pixels and class, the label group sampled by its cumulative softmax, then the CD-k gradient. With
// categorical visible units (3 sites of 2 states) each site is drawn by its cumulative softmax from the
// first of the step's visible uniforms, one per site; Gaussian ones (sampled) are their mean plus sigma
// times the visible segment's normal, and the hidden layer and the gradient read v / sigma.
void expect_generative_step_is_cd_on_the_joint(rbm::unit_kind kind) {
  SCOPED_TRACE(rbm::to_string(kind));
  const bool categorical = kind == rbm::unit_kind::categorical, gaussian = kind == rbm::unit_kind::gaussian;
  const int q = 2;
  const auto p0 = [&] {
    auto p = random_model(6, 4, 3, gaussian, 21);
    if (categorical) p.visible = rbm::unit_kind::categorical, p.states = q;
    return p;
  }();
  const int rows = 5, k = 2, nv = p0.nv, nh = p0.nh, kc = p0.classes, sites = nv / q;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> v(std::size_t(rows) * nv);
  for (auto& x : v) x = gaussian ? 2.0f * n01(rng) : float(u01(rng) > 0.5f);
  if (categorical)
    for (int g = 0; g < rows * sites; ++g) v[std::size_t(g) * q + 1] = 1.0f - v[std::size_t(g) * q];
  const std::vector<int> y = {2, 0, 1, 2, 1};
  const rbm::label_draw_layout lay = rbm::make_label_draw_layout(rows, nv, nh, k, gaussian);
  std::vector<float> draws(lay.total()), normals(lay.total());
  for (auto& d : draws) d = u01(rng);
  for (auto& d : normals) d = n01(rng);
  const rbm::label_uniforms uniforms = [&](std::size_t off, std::size_t n, float* out) {
    std::copy_n(draws.begin() + off, n, out);
  };
  const rbm::label_uniforms normal_source = [&](std::size_t off, std::size_t n, float* out) {
    std::copy_n(normals.begin() + off, n, out);
  };
  const rbm::cd_config cfg = [&] {
    auto c = step_config(nv, nh, 0.1f, 0.0f, 0.0f);
    c.k = k;
    c.visible = kind;
    c.visible_sample = gaussian;
    if (categorical) c.states = q;
    return c;
  }();
  auto p = p0;
  rbm::training_state st;
  rbm::classification_workspace ws;
  rbm::cpu_label_step(p, st, v.data(), y.data(), rows, cfg, 0.0f, 1.0f, uniforms, ws, &normal_source);

  // the reference, in double
  auto sig = [](double a) { return 1.0 / (1.0 + std::exp(-a)); };
  auto sd = [&](int i) { return gaussian ? double(p0.sigma[i]) : 1.0; };
  std::vector<double> gw(std::size_t(nv) * nh, 0), gvb(nv, 0), ghb(nh, 0), gu(std::size_t(kc) * nh, 0), gb(kc, 0);
  std::vector<std::vector<double>> h0p(rows, std::vector<double>(nh)), hs(rows, std::vector<double>(nh));
  auto hidden = [&](const std::vector<double>& x, int label, int j) {
    double a = p0.hb[j] + p0.label_w[std::size_t(label) * nh + j];
    for (int i = 0; i < nv; ++i) a += x[i] / sd(i) * p0.w[std::size_t(i) * nh + j];
    return sig(a);
  };
  std::vector<std::vector<double>> x0(rows), vn(rows, std::vector<double>(nv)), hn(rows, std::vector<double>(nh));
  std::vector<int> yn(rows);
  for (int r = 0; r < rows; ++r) {
    x0[r].assign(v.begin() + r * nv, v.begin() + (r + 1) * nv);
    for (int j = 0; j < nh; ++j) h0p[r][j] = hidden(x0[r], y[r], j);
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < nh; ++j) hs[r][j] = draws[std::size_t(r) * nh + j] < h0p[r][j] ? 1.0 : 0.0;
  for (int step = 0; step < k; ++step) {
    auto wh = [&](int r, int i) {
      double a = 0;
      for (int j = 0; j < nh; ++j) a += hs[r][j] * p0.w[std::size_t(i) * nh + j];
      return a;
    };
    const std::size_t at = lay.v(step);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < nv && !categorical; ++i) {
        const std::size_t u = at + std::size_t(r) * nv + i;
        vn[r][i] = gaussian ? p0.vb[i] + sd(i) * wh(r, i) + sd(i) * normals[u]
                            : (draws[u] < sig(p0.vb[i] + wh(r, i)) ? 1.0 : 0.0);
      }
    for (int r = 0; r < rows && categorical; ++r)
      for (int s = 0; s < sites; ++s) {  // two states: state 0 while u < its probability
        const double p_first = sig(p0.vb[s * q] + wh(r, s * q) - p0.vb[s * q + 1] - wh(r, s * q + 1));
        const bool first = draws[at + std::size_t(r) * sites + s] < p_first;
        vn[r][s * q] = first ? 1.0 : 0.0;
        vn[r][s * q + 1] = first ? 0.0 : 1.0;
      }
    for (int r = 0; r < rows; ++r) {
      std::vector<double> logit(kc);
      for (int c = 0; c < kc; ++c) {
        logit[c] = p0.label_b[c];
        for (int j = 0; j < nh; ++j) logit[c] += hs[r][j] * p0.label_w[std::size_t(c) * nh + j];
      }
      const double top = *std::max_element(logit.begin(), logit.end());
      double z = 0;
      for (double l : logit) z += std::exp(l - top);
      const double u = draws[lay.y(step) + r];
      double cum = 0;
      yn[r] = kc - 1;
      for (int c = 0; c < kc - 1; ++c)
        if (u < (cum += std::exp(logit[c] - top) / z)) {
          yn[r] = c;
          break;
        }
    }
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < nh; ++j) {
        hn[r][j] = hidden(vn[r], yn[r], j);
        hs[r][j] = draws[lay.h(step) + std::size_t(r) * nh + j] < hn[r][j] ? 1.0 : 0.0;
      }
  }
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < nv; ++i) {
      gvb[i] += (x0[r][i] - vn[r][i]) / (sd(i) * sd(i));
      for (int j = 0; j < nh; ++j)
        gw[std::size_t(i) * nh + j] += (x0[r][i] * h0p[r][j] - vn[r][i] * hn[r][j]) / sd(i);
    }
    for (int j = 0; j < nh; ++j) {
      ghb[j] += h0p[r][j] - hn[r][j];
      gu[std::size_t(y[r]) * nh + j] += h0p[r][j];
      gu[std::size_t(yn[r]) * nh + j] -= hn[r][j];
    }
    gb[y[r]] += 1;
    gb[yn[r]] -= 1;
  }
  const double scale = 0.1 / rows, tol = gaussian ? 1e-5 : 1e-6;
  for (std::size_t i = 0; i < gw.size(); ++i) EXPECT_NEAR(p.w[i] - p0.w[i], scale * gw[i], tol) << "W " << i;
  for (int i = 0; i < nv; ++i) EXPECT_NEAR(p.vb[i] - p0.vb[i], scale * gvb[i], tol) << "vb " << i;
  for (int j = 0; j < nh; ++j) EXPECT_NEAR(p.hb[j] - p0.hb[j], scale * ghb[j], tol) << "hb " << j;
  for (std::size_t i = 0; i < gu.size(); ++i) EXPECT_NEAR(p.label_w[i] - p0.label_w[i], scale * gu[i], tol) << "U " << i;
  for (int c = 0; c < kc; ++c) EXPECT_NEAR(p.label_b[c] - p0.label_b[c], scale * gb[c], tol) << "b " << c;

  // hybrid = discriminative + alpha x generative, update for update (no momentum: the steps add)
  auto d = p0, h = p0;
  rbm::training_state s_d, s_h;
  rbm::cpu_label_step(d, s_d, v.data(), y.data(), rows, cfg, 1.0f, 0.0f, uniforms, ws, &normal_source);
  rbm::cpu_label_step(h, s_h, v.data(), y.data(), rows, cfg, 1.0f, 0.25f, uniforms, ws, &normal_source);
  for (std::size_t i = 0; i < p.w.size(); ++i)
    EXPECT_NEAR(h.w[i] - p0.w[i], (d.w[i] - p0.w[i]) + 0.25 * (p.w[i] - p0.w[i]), 1e-6) << "hybrid W " << i;
  for (std::size_t i = 0; i < p.label_w.size(); ++i)
    EXPECT_NEAR(h.label_w[i] - p0.label_w[i], (d.label_w[i] - p0.label_w[i]) + 0.25 * (p.label_w[i] - p0.label_w[i]),
                1e-6);
}

TEST(Classification, TheGenerativeStepIsCdOnTheJointInDouble) {
  for (auto kind : {rbm::unit_kind::bernoulli, rbm::unit_kind::categorical, rbm::unit_kind::gaussian})
    expect_generative_step_is_cd_on_the_joint(kind);
}

// PCD on the joint: the second batch's chain starts where the first one's ended (st.chain_h), also when
// the batch has exactly as many rows as there are chains. Flipping every stored state must change the
// update; a chain that restarted from the data would not see it.
TEST(Classification, PcdContinuesTheJointChainFromTheLastBatch) {
  const auto p0 = random_model(6, 4, 3, false, 23);
  const int rows = 5, nv = p0.nv, nh = p0.nh;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  std::vector<float> v(std::size_t(rows) * nv), draws(rbm::label_draw_count(rows, nv, nh, 1));
  for (auto& x : v) x = float(u01(rng) > 0.5f);
  for (auto& d : draws) d = u01(rng);
  const std::vector<int> y = {2, 0, 1, 2, 1};
  const rbm::label_uniforms uniforms = [&](std::size_t off, std::size_t n, float* out) {
    std::copy_n(draws.begin() + off, n, out);
  };
  auto cfg = step_config(nv, nh, 0.1f, 0.0f, 0.0f);
  cfg.pcd = true;
  auto p = p0;
  rbm::training_state st;
  rbm::classification_workspace ws;
  rbm::cpu_label_step(p, st, v.data(), y.data(), rows, cfg, 0.0f, 1.0f, uniforms, ws);
  ASSERT_EQ(st.chains, rows);
  ASSERT_EQ(st.chain_h.size(), std::size_t(rows) * nh);
  auto kept = p, flipped = p;
  rbm::training_state s_kept = st, s_flipped = st;
  for (auto& h : s_flipped.chain_h) h = 1.0f - h;
  rbm::cpu_label_step(kept, s_kept, v.data(), y.data(), rows, cfg, 0.0f, 1.0f, uniforms, ws);
  rbm::cpu_label_step(flipped, s_flipped, v.data(), y.data(), rows, cfg, 0.0f, 1.0f, uniforms, ws);
  double moved = 0;
  for (std::size_t i = 0; i < kept.w.size(); ++i) moved = std::max(moved, double(std::fabs(kept.w[i] - flipped.w[i])));
  EXPECT_GT(moved, 1e-3) << "the negative phase must start from the stored chain";
}

// Clamping the label to y gives the model of p(v | y): its distribution over every visible state,
// enumerated, equals the joint's conditional on y, enumerated.
TEST(Classification, TheClampedModelIsTheJointConditionalOnTheClass) {
  const auto p = random_model(5, 3, 4, false, 13);
  auto unnormalised = [](const rbm::model_params& m, int v, int y) {  // sum_h exp(-E(v, h[, y]))
    double s = 0;
    for (int h = 0; h < (1 << m.nh); ++h) {
      double e = 0;
      for (int i = 0; i < m.nv; ++i) e -= ((v >> i) & 1) * m.vb[i];
      for (int j = 0; j < m.nh; ++j) {
        if (!((h >> j) & 1)) continue;
        e -= m.hb[j];
        if (y >= 0) e -= m.label_w[std::size_t(y) * m.nh + j];
        for (int i = 0; i < m.nv; ++i) e -= ((v >> i) & 1) * m.w[std::size_t(i) * m.nh + j];
      }
      if (y >= 0) e -= m.label_b[y];
      s += std::exp(-e);
    }
    return s;
  };
  for (int y = 0; y < p.classes; ++y) {
    const auto q = rbm::clamp_label(p, y);
    EXPECT_FALSE(q.labeled());
    double zj = 0, zq = 0;
    for (int v = 0; v < (1 << p.nv); ++v) zj += unnormalised(p, v, y), zq += unnormalised(q, v, -1);
    for (int v = 0; v < (1 << p.nv); ++v)
      EXPECT_NEAR(unnormalised(q, v, -1) / zq, unnormalised(p, v, y) / zj, 1e-9) << "y " << y << " v " << v;  // hb + U_y in float
  }
  EXPECT_THROW(rbm::clamp_label(p, 4), rbm::precondition_error);
}

rbm::train_options discriminative_options(const std::string& out) {
  rbm::train_options o;
  o.labels = true;
  o.objective = "discriminative";
  o.cd.nh = 60;
  o.cd.lr = 0.5f;
  o.cd.momentum = 0.5f;
  o.cd.weight_decay = 0.0f;
  o.cd.seed = 3;
  o.batch = 20;
  o.epochs = 4;
  o.device = "cpu";
  o.out_dir = out;
  return o;
}

// rbm::train with labels: held-out accuracy in the history and metrics.csv, the label group in the
// model file, and a run resumed halfway equal to the straight one bit for bit (label momentum included).
TEST(ClassificationTraining, TrainsResumesAndReportsAccuracy) {
  const auto d = rbm_test::digits_subset(1500, 500);
  const auto dir = rbm_test::fresh_dir("cls-straight");
  const auto straight = rbm::train(d, discriminative_options(dir.string()));
  ASSERT_EQ(straight.history.size(), 5u);
  EXPECT_TRUE(std::isfinite(straight.history.front().test_accuracy));
  EXPECT_GT(straight.history.back().test_accuracy, 0.8);
  EXPECT_GT(straight.history.back().test_accuracy, straight.history[1].test_accuracy - 0.02);
  EXPECT_GT(straight.history.back().test_class_ll, straight.history.front().test_class_ll);
  EXPECT_EQ(straight.params.classes, 10);
  std::ifstream csv(dir / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find(",train_accuracy,test_accuracy,train_class_log_likelihood,test_class_log_likelihood"),
            std::string::npos);
  EXPECT_EQ(rbm::load_model((dir / "model.safetensors").string()).params.label_w, straight.params.label_w);

  const auto resumed =
      rbm_test::train_then_resume(d, discriminative_options(""), rbm_test::fresh_dir("cls-half").string(), 2, 4);
  EXPECT_EQ(resumed.params.w, straight.params.w);
  EXPECT_EQ(resumed.params.label_w, straight.params.label_w);
  EXPECT_EQ(resumed.params.label_b, straight.params.label_b);
  EXPECT_EQ(resumed.state.vel_label_w, straight.state.vel_label_w);
  EXPECT_EQ(resumed.history.back().test_accuracy, straight.history.back().test_accuracy);
}

// Early stopping with labels watches held-out accuracy: a learning rate that ruins it stops the run.
TEST(ClassificationTraining, EarlyStopWatchesHeldOutAccuracy) {
  const auto d = rbm_test::digits_subset(600, 300);
  auto o = discriminative_options("");
  o.epochs = 30;
  o.early_stop = 2;
  o.cd.lr = 0.5f;
  o.cd.nh = 20;
  const auto r = rbm::train(d, o);
  ASSERT_LT(r.history.size(), 31u) << "never stopped early";
  const auto best = std::max_element(r.history.begin(), r.history.end(), [](const auto& a, const auto& b) {
    return a.test_accuracy < b.test_accuracy;
  });
  EXPECT_EQ(r.history.end() - best - 1, 2);  // stopped two epochs after the best
}

// --validation N: the last N training images are the held-out set of the whole run (metrics, early
// stopping); the test set is classified once, by the final model; a resumed run splits the same way.
TEST(ClassificationTraining, ValidationSplitIsTheHeldOutSetAndTheTestSetIsClassifiedOnce) {
  const auto d = rbm_test::digits_subset(1500, 400);
  auto o = discriminative_options("");
  o.validation = 300;
  o.epochs = 3;
  const auto r = rbm::train(d, o);
  for (const auto& m : r.history) EXPECT_EQ(m.test.samples, 300) << "epoch " << m.epoch << ": not the validation set";
  // The validation figures are those of the last 300 training images, classified by the final model.
  rbm::image_set tail = d.train;
  const rbm::image_set val = rbm::split_tail(tail, 300);
  EXPECT_EQ(tail.count, 1200);
  ASSERT_EQ(val.count, 300);
  EXPECT_EQ(val.labels.front(), d.train.labels[1200]);
  EXPECT_TRUE(std::equal(val.pixels.begin(), val.pixels.end(), d.train.pixels.begin() + 1200 * 784));
  auto accuracy_on = [&](const rbm::image_set& s) {
    std::vector<float> v(s.pixels.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(s.pixels[i]);
    std::vector<double> lp(std::size_t(s.count) * 10);
    rbm::class_log_probs(r.params, v.data(), s.count, lp.data());
    int right = 0;
    for (int i = 0; i < s.count; ++i)
      right += int(std::max_element(lp.begin() + i * 10, lp.begin() + (i + 1) * 10) - (lp.begin() + i * 10)) == s.labels[i];
    return double(right) / s.count;
  };
  EXPECT_DOUBLE_EQ(r.history.back().test_accuracy, accuracy_on(val));
  ASSERT_EQ(r.test_count, 400);
  EXPECT_DOUBLE_EQ(r.test_accuracy, accuracy_on(d.test));
  EXPECT_GT(r.test_accuracy, 0.75);
  // Trained on 1,200 images: not the same run as on all 1,500.
  auto all = discriminative_options("");
  all.epochs = 3;
  EXPECT_NE(rbm::train(d, all).params.w, r.params.w);
  // Resumed halfway, the split is the same and the run equal bit for bit.
  const auto resumed = rbm_test::train_then_resume(d, o, rbm_test::fresh_dir("cls-val-half").string(), 1, 3);
  EXPECT_EQ(resumed.params.label_w, r.params.label_w);
  EXPECT_EQ(resumed.test_accuracy, r.test_accuracy);
}

TEST(ClassificationTraining, BadLabelsAndOptionsAreRefusedByName) {
  auto d = rbm_test::digits_subset(300, 100);
  auto o = discriminative_options("");
  o.classes = 5;  // the digits hold labels up to 9
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("outside [0, 5)"), std::string::npos);
  o.classes = 0;
  o.objective = "hybrid";
  o.alpha = 0.0f;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("positive alpha"), std::string::npos);
  o.alpha = 0.01f;
  o.objective = "contrastive";
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("generative, discriminative or hybrid"), std::string::npos);
  o.objective = "discriminative";
  o.validation = 300;  // every training image
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("must leave training images"), std::string::npos);
  o.validation = -1;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("validation must not be negative"), std::string::npos);
  o.validation = 0;
  auto unlabelled = d;
  unlabelled.train.labels.clear();
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(unlabelled, o); }).find("no labels were read"), std::string::npos);
  auto plain = discriminative_options("");
  plain.labels = false;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, plain); }).find("needs labels"), std::string::npos);
  // One class present (all 3s: not "4 classes, accuracy 1.0"), and more classes than a file holds.
  auto threes = d;
  std::fill(threes.train.labels.begin(), threes.train.labels.end(), std::uint8_t(3));
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(threes, o); }).find("the training labels hold a single class (3)"),
            std::string::npos);
  o.classes = 65537;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("classes must be 0 (the largest label + 1) or 2 to 65536"),
            std::string::npos);
}

// Generative and hybrid training classify held-out digits through p(y | x); the hybrid one better than
// the generative one (Larochelle & Bengio's ordering).
TEST(ClassificationTraining, GenerativeAndHybridObjectivesClassify) {
  const auto d = rbm_test::digits_subset(2000, 1000);
  auto o = discriminative_options("");
  o.cd.nh = 100;
  o.epochs = 5;
  o.cd.lr = 0.1f;
  o.objective = "generative";
  const auto gen = rbm::train(d, o);
  o.objective = "hybrid";
  o.alpha = 0.1f;
  o.cd.lr = 0.5f;
  const auto hyb = rbm::train(d, o);
  EXPECT_GT(gen.history.back().test_accuracy, 0.70) << "generative";
  EXPECT_GT(hyb.history.back().test_accuracy, 0.85) << "hybrid";
  EXPECT_GT(hyb.history.back().test_accuracy, gen.history.back().test_accuracy);
  EXPECT_LT(gen.history.back().train.err_mean_field, gen.history.front().train.err_mean_field);  // it models x too

}

#ifdef RBM_EXE
TEST(ClassificationCli, ValidationSplitIsSaidAndTheTestSetClassifiedAtTheEnd) {
  const auto dir = rbm_test::fresh_dir("cls-cli-val");
  const auto t = rbm_test::run_rbm("train --device cpu --labels --objective discriminative --hidden 30 --epochs 2 "
                                   "--lr 0.5 --batch 20 --train-limit 1000 --test-limit 300 --validation 200 --out " +
                                   (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("the last 200 of them the validation set"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("validation; wrote"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("test set (300 images, not used in training): accuracy 0."), std::string::npos) << t.output;
  const auto bad = rbm_test::run_rbm("train --device cpu --labels --train-limit 100 --validation 100 --out " +
                                     (dir / "bad").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("must leave training images"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad" / "model.safetensors"));
}

// `--labels` alone trains with rbm::classifier_defaults; each of those options given replaces its own
// default only; an unlabelled run keeps the general defaults.
TEST(ClassificationCli, LabelsAloneTakeTheClassifierDefaults) {
  const auto dir = rbm_test::fresh_dir("cls-cli-defaults");
  auto config = [&](const std::string& name, const std::string& args) {
    const auto t = rbm_test::run_rbm("train --device cpu --hidden 20 --epochs 1 --train-limit 200 --test-limit 50 "
                                     "--quiet " + args + " --out " + (dir / name).string());
    EXPECT_EQ(t.code, 0) << t.output;
    return nlohmann::json::parse(rbm::load_model((dir / name / "model.safetensors").string()).metadata.at("config"));
  };
  using d = rbm::classifier_defaults;
  const auto plain = config("plain", "--labels");
  EXPECT_EQ(plain.at("objective"), d::objective);
  EXPECT_EQ(plain.at("alpha").get<float>(), d::alpha);
  EXPECT_EQ(plain.at("batch"), d::batch);
  EXPECT_EQ(plain.at("lr").get<float>(), d::lr);
  EXPECT_EQ(plain.at("lr_decay").get<float>(), d::lr_decay);
  const auto given = config("given", "--labels --objective discriminative --batch 50");
  EXPECT_EQ(given.at("objective"), "discriminative");
  EXPECT_EQ(given.at("batch"), 50);
  EXPECT_EQ(given.at("lr").get<float>(), d::lr);
  // the generative objective keeps the general rate, batch and decay (at the classifier's it collapses)
  const auto generative = config("generative", "--labels --objective generative");
  EXPECT_EQ(generative.at("objective"), "generative");
  EXPECT_EQ(generative.at("batch"), rbm::train_options().batch);
  EXPECT_EQ(generative.at("lr").get<float>(), rbm::cd_config().lr);
  EXPECT_EQ(generative.at("lr_decay").get<float>(), rbm::train_options().lr_decay);
  const auto unlabelled = config("unlabelled", "");
  EXPECT_EQ(unlabelled.at("objective"), "generative");
  EXPECT_EQ(unlabelled.at("batch"), rbm::train_options().batch);
  EXPECT_EQ(unlabelled.at("lr").get<float>(), rbm::cd_config().lr);
  EXPECT_EQ(unlabelled.at("lr_decay").get<float>(), rbm::train_options().lr_decay);
}

// A model trained on binarised pixels is classified on binarised pixels: `rbm classify` gives the
// trainer's own held-out accuracy and log p(y | x), not those of grey images.
TEST(ClassificationCli, ABinarisedModelIsClassifiedAsItWasTrained) {
  const auto dir = rbm_test::fresh_dir("cls-cli-bin");
  const auto t = rbm_test::run_rbm("train --device cpu --labels --binarize --hidden 40 --epochs 2 --train-limit 1000 "
                                   "--test-limit 300 --quiet --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  const auto c = rbm_test::run_rbm("classify --model " + (dir / "run" / "model.safetensors").string() +
                                   " --test-limit 300 --json " + (dir / "c.json").string());
  ASSERT_EQ(c.code, 0) << c.output;
  const auto res = nlohmann::json::parse(std::ifstream(dir / "c.json"));
  std::ifstream m(dir / "run" / "metrics.csv");
  std::string header, line, last;
  std::getline(m, header);
  while (std::getline(m, line)) last = line;
  auto column = [](const std::string& csv_line, const std::string& name, const std::string& head) {
    std::vector<std::string> names, cols;
    std::stringstream h(head), r(csv_line);
    for (std::string f; std::getline(h, f, ',');) names.push_back(f);
    for (std::string f; std::getline(r, f, ',');) cols.push_back(f);
    const auto at = std::find(names.begin(), names.end(), name);
    EXPECT_NE(at, names.end()) << head;
    return at == names.end() ? 0.0 : std::stod(cols.at(std::size_t(at - names.begin())));
  };
  EXPECT_NEAR(double(res["accuracy"]), column(last, "test_accuracy", header), 1e-4);
  EXPECT_NEAR(double(res["log_p_y_given_x"]), column(last, "test_class_log_likelihood", header), 1e-4) << header;
}

// `rbm classify`: predictions.csv, the accuracy the trainer measured, the confusion matrix; a model
// without labels is refused by name, writing nothing.
TEST(ClassificationCli, ClassifyWritesPredictionsAndTheConfusionMatrix) {
  const auto dir = rbm_test::fresh_dir("cls-cli");
  const auto t = rbm_test::run_rbm("train --device cpu --labels --objective discriminative --hidden 40 --epochs 2 "
                                   "--lr 0.5 --batch 20 --train-limit 1000 --test-limit 300 --quiet --out " +
                                   (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("with 10 classes"), std::string::npos) << t.output;
  const auto c = rbm_test::run_rbm("classify --model " + (dir / "run" / "model.safetensors").string() +
                                   " --test-limit 300 --out " + (dir / "p.csv").string() + " --json " +
                                   (dir / "c.json").string() + " --confusion-png " + (dir / "conf.png").string() +
                                   " --worst-png " + (dir / "worst.png").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("confusion (rows: true class"), std::string::npos);
  EXPECT_EQ(rbm_test::count_lines(dir / "p.csv"), 301);
  std::ifstream j(dir / "c.json");
  const auto res = nlohmann::json::parse(j);
  std::ifstream m(dir / "run" / "metrics.csv");
  std::string line, last;
  while (std::getline(m, line)) last = line;
  // the trainer's held-out accuracy (column test_accuracy) is classify's on the same 300 images
  std::vector<std::string> cols;
  std::stringstream ss(last);
  for (std::string f; std::getline(ss, f, ',');) cols.push_back(f);
  EXPECT_NEAR(double(res["accuracy"]), std::stod(cols[cols.size() - 3]), 1e-4);
  long total = 0;
  for (const auto& row : res["confusion"])
    for (const auto& x : row) total += long(x);
  EXPECT_EQ(total, 300);
  EXPECT_EQ(rbm::read_png((dir / "worst.png").string()).width, 5 * 29 + 1);
  EXPECT_EQ(rbm::read_png((dir / "conf.png").string()).width, 10 * 24 + 1);
  // one picture
  const auto one = rbm_test::run_rbm("classify --model " + (dir / "run" / "model.safetensors").string() + " --image " +
                                     (dir / "worst.png").string());
  EXPECT_EQ(one.code, 0) << one.output;
  EXPECT_NE(one.output.find("p(0) = "), std::string::npos);
  // pictures of one class, the label clamped
  const auto smp = rbm_test::run_rbm("sample --model " + (dir / "run" / "model.safetensors").string() +
                                     " --class 3 --chains 4 --steps 20 --every 10 --out " + (dir / "three.png").string());
  EXPECT_EQ(smp.code, 0) << smp.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "three.png"));
  EXPECT_NE(rbm_test::run_rbm("sample --model " + (dir / "run" / "model.safetensors").string() +
                              " --class 10 --out " + (dir / "never.png").string())
                .output.find("classes 0 to 9"),
            std::string::npos);
  // a model without labels
  const auto u = rbm_test::run_rbm("train --device cpu --hidden 10 --epochs 1 --train-limit 200 --test-limit 100 --quiet "
                                   "--out " + (dir / "plain").string());
  ASSERT_EQ(u.code, 0) << u.output;
  const auto bad = rbm_test::run_rbm("classify --model " + (dir / "plain" / "model.safetensors").string() + " --out " +
                                     (dir / "never.csv").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("has no label units"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "never.csv"));
  const auto nolabels = rbm_test::run_rbm("sample --model " + (dir / "plain" / "model.safetensors").string() +
                                          " --class 1 --out " + (dir / "never.png").string());
  EXPECT_NE(nolabels.code, 0);
  EXPECT_NE(nolabels.output.find("needs a model with label units"), std::string::npos) << nolabels.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "never.png"));
}
#endif

}  // namespace
