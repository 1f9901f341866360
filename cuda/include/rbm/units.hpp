// Unit kinds: for each kind of unit a layer can have, the one RBM_HD place that says its conditional
// mean, how it is sampled (and from how many uniforms or normals), its free-energy term and what the
// layer on the other side of W sees of it. The CPU passes and the kernels call these, so adding a kind
// is a change here and in the model spec (rbm::model_params), not in the trainer or the CLI.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "rbm/math.hpp"
#include "rbm/normal.hpp"

namespace rbm {

enum class unit_kind : std::uint8_t { bernoulli = 0, gaussian = 1, categorical = 2, relu = 3 };

// The two layers of an RBM: a kind is allowed on one, the other or both.
enum class layer_side : std::uint8_t { visible, hidden };

// Every unit kind's name and the layers it may form, in this one place: to_string, parse_unit_kind
// and the messages that list the kinds read this table (model files, checkpoints, the CLI and the
// Python binding all go through them).
struct unit_kind_name {
  unit_kind kind;
  const char* name;
  bool visible, hidden;  // allowed as the visible layer, as the hidden layer
};
inline constexpr unit_kind_name unit_kind_names[] = {{unit_kind::bernoulli, "bernoulli", true, true},
                                                     {unit_kind::gaussian, "gaussian", true, true},
                                                     {unit_kind::categorical, "categorical", true, false},
                                                     {unit_kind::relu, "relu", false, true}};

inline bool allowed_on(const unit_kind_name& n, layer_side side) { return side == layer_side::visible ? n.visible : n.hidden; }

inline const char* to_string(unit_kind k) {
  for (const auto& n : unit_kind_names)
    if (n.kind == k) return n.name;
  return "unknown";
}

// The kind called `name` that `side` may have; false (and `out` untouched) for a name that is none.
inline bool parse_unit_kind(const std::string& name, unit_kind& out, layer_side side = layer_side::visible) {
  for (const auto& n : unit_kind_names)
    if (name == n.name && allowed_on(n, side)) {
      out = n.kind;
      return true;
    }
  return false;
}

// "bernoulli, gaussian or categorical": the names of the kinds `side` may have, for messages.
inline std::string unit_kind_list(layer_side side = layer_side::visible) {
  std::string s;
  std::size_t count = 0, seen = 0;
  for (const auto& n : unit_kind_names) count += allowed_on(n, side) ? 1 : 0;
  for (const auto& n : unit_kind_names) {
    if (!allowed_on(n, side)) continue;
    s += std::string(seen == 0 ? "" : seen + 1 == count ? " or " : ", ") + n.name;
    ++seen;
  }
  return s;
}

// Binary units: p(s = 1 | a) = sigmoid(a) for the total input a (bias included); one uniform per unit.
struct bernoulli_units {
  static constexpr int uniforms_per_unit = 1;
  static constexpr int normals_per_unit = 0;
  RBM_HD static float mean(float a) { return sigmoid(a); }
  RBM_HD static float sample(float mean, float u) { return bernoulli(mean, u); }
  // The unit's term of the free energy F(v) (Bernoulli visible units): -v b.
  RBM_HD static double free_energy_term(double v, double b) { return -v * b; }
};

// Real-valued visible units with standard deviation sigma (a Gaussian-Bernoulli RBM):
//   E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j c_j h_j - sum_ij (v_i / sigma_i) W_ij h_j,
// so v_i | h ~ Normal(b_i + sigma_i x_i, sigma_i^2) with x = h W^T, and the hidden layer sees v / sigma.
// One standard normal per unit.
struct gaussian_units {
  static constexpr int uniforms_per_unit = 0;
  static constexpr int normals_per_unit = 1;
  // Each rounded twice (product, then sum) on the device as on the CPU (never one FMA: see
  // decayed_velocity in math.hpp), so the kernels and the CPU passes agree bit for bit.
  RBM_HD static float mean(float b, float sigma, float x) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(b, __fmul_rn(sigma, x));
#else
    return b + sigma * x;
#endif
  }
  RBM_HD static float sample(float mean, float sigma, float normal) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(mean, __fmul_rn(sigma, normal));
#else
    return mean + sigma * normal;
#endif
  }
  // What the hidden layer's input is made of: v_i / sigma_i.
  RBM_HD static float scaled(float v, float sigma) { return v / sigma; }
  // Learned sigma (through z = log sigma): the unit's -dE/dz at (v, h), x = (h W^T)_i, which CD
  // averages at the data minus at the chain's end: (v - b)^2 / sigma^2 - (v / sigma) x.
  RBM_HD static float log_sigma_gradient(float v, float b, float sigma, float x) {
    const float d = (v - b) / sigma;
    return d * d - v / sigma * x;
  }
  // SGD's step of sigma along the batch's mean -dE/dz with velocity v (momentum plus lr times it):
  // sigma^2 moves by 2 v sigma^2, the natural-gradient step on the variance (Fisher information
  // 1 / (2 sigma^4)), to first order the step z += v. It is linear in a row's squared residual, so a row
  // far in a feature's tail (a standardised pixel that is almost always dark reaches 185 standard
  // deviations on Fashion-MNIST) raises sigma^2 by at most about lr x its square where exp(v) would
  // overflow, and no bound has to cut such rows out of the gradient (which biased sigma low). Kept at
  // or above `floor`.
  RBM_HD static float variance_step(float sigma, float velocity, float floor) {
    return fmaxf(floor, sigma * sqrtf(fmaxf(0.0f, 1.0f + 2.0f * velocity)));
  }
  // Adam's step on z (about the rate whatever the gradient): sigma = sigma exp(z), floored.
  RBM_HD static float log_sigma_step(float sigma, float z, float floor) { return fmaxf(floor, sigma * expf(z)); }
  // The unit's term of F(v): (v - b)^2 / (2 sigma^2).
  RBM_HD static double free_energy_term(double v, double b, double sigma) {
    const double d = (v - b) / sigma;
    return 0.5 * d * d;
  }
  // log of its part of the partition function given x (the visible units integrated out):
  // log integral exp(-(v - b)^2 / (2 sigma^2) + v x / sigma) dv = b x / sigma + x^2 / 2 + log(sqrt(2 pi) sigma).
  RBM_HD static double log_integral(double b, double sigma, double x) {
    return b * x / sigma + 0.5 * x * x + log(2.5066282746310002 * sigma);
  }
};

// Categorical (Potts) visible units: each of `sites` variables takes one of Q states, one-hot in the
// energy, so a layer of them is `sites` softmax groups (softmax_units below) of Q units each, stored
// with the state index fastest (unit s * Q + q); one uniform per site; the free-energy term of a
// one-hot v is -v.b as for Bernoulli units, and a site's log sum over its states is softmax_units::mean's
// return value.

// A group of K mutually exclusive binary units (one-hot: a class label, a category): the group's state is
// unit y with probability softmax(a)_y of the group's total inputs a; one uniform per group picks it
// (the first unit whose cumulative probability exceeds u). Its free-energy term is -b_y, as for
// Bernoulli units. The probabilities are computed in double, the largest input subtracted first.
struct softmax_units {
  static constexpr int uniforms_per_group = 1;
  // p [K] = softmax(a [K]); returns log sum exp(a).
  RBM_HD static double mean(const double* a, int k, double* p) {
    double top = a[0];
    for (int i = 1; i < k; ++i) top = a[i] > top ? a[i] : top;
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += (p[i] = exp(a[i] - top));
    for (int i = 0; i < k; ++i) p[i] /= sum;
    return top + log(sum);
  }
  RBM_HD static int sample(const double* p, int k, float u) {
    double c = 0;
    for (int i = 0; i < k - 1; ++i)
      if (u < (c += p[i])) return i;
    return k - 1;
  }
};

// Hidden units of each kind (`unit_kind` on the hidden side), given a unit's total input
// x = c_j + I_j (its bias plus what the visible layer sends through W): the conditional mean, a draw
// from one uniform u in (0, 1] (so every kind's hidden segment of the draw layout is one uniform per
// unit) and log of the sum or integral over the unit's values of exp(x h - h^2/2 [continuous kinds]),
// the unit's term of -F(v).
//   Bernoulli  h in {0, 1}:            sigmoid(x), [u < sigmoid(x)],            log(1 + e^x)
//   Gaussian   h ~ Normal(x, 1):       x,          x + z with Q(z) = u,          x^2/2 + log sqrt(2 pi)
//   ReLU       the same, h >= 0:       x + phi(x) / Phi(x), x + z with Q(z) = u Q(-x),
//                                      x^2/2 + log Phi(x) + log sqrt(2 pi)
// (Q the standard normal's upper tail: both draws invert the upper tail, so they decrease in u.)
// (Tubiana & Monasson's ReLU units with gamma = 1.) The continuous kinds compute in double. Each kind's
// conditional variance is also its mean's slope in x (the kinds are exponential families in x):
// Bernoulli sigmoid(x)(1 - sigmoid(x)), Gaussian 1, ReLU 1 - r (x + r) with r = phi(x) / Phi(x); a
// network through the up-pass (fine-tuning) backpropagates through it.
struct gaussian_hidden_units {
  RBM_HD static double mean(double x) { return x; }
  RBM_HD static double sample(double x, float u) { return x - normal_quantile(u); }
  RBM_HD static double log_integral(double x) { return 0.5 * x * x + log_sqrt_2pi; }
  RBM_HD static double variance(double) { return 1.0; }
};

struct relu_units {
  // phi(x) / Phi(x) = 1 / (sqrt(2 pi) exp(log Q(-x) + x^2/2)), which neither overflows nor cancels.
  RBM_HD static double mean(double x) { return x + 1.0 / (sqrt_2pi * exp(log_scaled_upper_tail(-x))); }
  // h = x + z with z a draw of Z | Z >= -x, floored at 0 against rounding.
  RBM_HD static double sample(double x, float u) {
    const double h = x + truncated_normal_above(-x, u);
    return h > 0.0 ? h : 0.0;
  }
  RBM_HD static double log_integral(double x) { return log_scaled_upper_tail(-x) + log_sqrt_2pi; }
  // Far below 0 the difference cancels towards its true value 1 / x^2 (relative error 1e-8 at x = -10^4).
  RBM_HD static double variance(double x) {
    const double r = 1.0 / (sqrt_2pi * exp(log_scaled_upper_tail(-x)));
    const double v = 1.0 - r * (x + r);
    return v > 0.0 ? v : 0.0;
  }
};

RBM_HD double hidden_mean(unit_kind k, double x) {
  return k == unit_kind::relu ? relu_units::mean(x) : k == unit_kind::gaussian ? x : double(sigmoid(float(x)));
}
RBM_HD double hidden_sample(unit_kind k, double x, float u) {
  if (k == unit_kind::relu) return relu_units::sample(x, u);
  if (k == unit_kind::gaussian) return gaussian_hidden_units::sample(x, u);
  return bernoulli(sigmoid(float(x)), u);
}
RBM_HD double hidden_variance(unit_kind k, double x) {
  if (k == unit_kind::relu) return relu_units::variance(x);
  if (k == unit_kind::gaussian) return gaussian_hidden_units::variance(x);
  const double s = sigmoid(float(x));
  return s * (1.0 - s);
}
RBM_HD double hidden_log_integral(unit_kind k, double x) {
  if (k == unit_kind::relu) return relu_units::log_integral(x);
  if (k == unit_kind::gaussian) return gaussian_hidden_units::log_integral(x);
  return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

}  // namespace rbm
