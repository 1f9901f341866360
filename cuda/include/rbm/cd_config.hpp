// The hyper-parameters of a CD-k update and the layout of the uniforms it draws: shared by the device
// library and the CPU backend so both compute, and draw, exactly the same thing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rbm/optimizer.hpp"
#include "rbm/units.hpp"

namespace rbm {

// Hyper-parameters of contrastive divergence (see DESIGN.md, "The maths").
struct cd_config {
  int nv = 784;
  int nh = 500;
  int k = 1;                     // Gibbs steps per update
  bool pcd = false;              // keep the negative chain across batches
  float lr = 0.1f;               // learning rate
  float momentum = 0.5f;
  float weight_decay = 2e-4f;    // L2, on W only
  float sparsity_target = 0.0f;  // mean hidden activation to aim for; 0 disables
  float sparsity_cost = 0.0f;
  // The tutorial's rule (`--preset seed`): W moves by lr x the *summed* batch gradient instead of the
  // mean, and the hidden bias by the mean difference of sampled hidden *states*.
  bool sum_weight_gradient = false;
  bool hidden_bias_from_states = false;
  std::uint64_t seed = 1;
  // The visible units' kind. Gaussian units have standard deviations sigma (model_params::sigma) and
  // reconstruct with their mean (Hinton's guide, section 13.2: a noise-free negative phase) unless
  // visible_sample, which draws v ~ Normal(mean, sigma^2) from the step's normals.
  unit_kind visible = unit_kind::bernoulli;
  int states = 0;  // categorical visible units: Q states per site (nv = sites x Q); else 0
  // The hidden units' kind: Bernoulli, or Gaussian / ReLU (rbm/units.hpp; both backends), whose
  // hidden segments of the draw layout are also one uniform per unit (inverse CDF).
  unit_kind hidden = unit_kind::bernoulli;
  bool visible_sample = false;
  // Gaussian units: learn sigma through z = log sigma (Cho, Ilin & Raiko 2011) with the same learning
  // rate and momentum, sigma kept at or above sigma_floor so that it cannot collapse.
  bool learn_sigma = false;
  float sigma_floor = 0.05f;
  // How the step's gradient moves the parameters (rbm/optimizer.hpp): SGD with `momentum`, or Adam
  // (then `momentum` is unused, `lr` is Adam's rate, and weight_decay shrinks W by lr x weight_decay
  // x W per update, apart from the moments: decoupled, as AdamW).
  optimizer update_rule = optimizer::sgd;
  // Parallel tempering (both backends): 0 (or 1) for none, else the negative phase of
  // each batch row runs this many persistent chains at inverse temperatures beta_t = t / (tempering - 1),
  // t = 0 .. tempering - 1, k Gibbs sweeps each, then swaps of neighbouring temperatures' states
  // (Metropolis, one uniform per neighbouring pair and row); the beta = 1 chain gives the negative
  // statistics. beta scales the interaction and the hidden biases (E_beta = visible terms - beta (hb.h +
  // v' W h), the hidden units' own potential kept), so beta = 0 is the visible biases' independent
  // model. Exclusive with pcd (the tempered chains persist on their own).
  int tempering = 0;
};

// Tempered chains per negative row (1 without tempering) and chain r's replica t's inverse temperature.
inline int replicas_of(const cd_config& c) { return c.tempering > 1 ? c.tempering : 1; }
RBM_HD float tempering_beta(int t, int replicas) { return replicas > 1 ? float(t) / float(replicas - 1) : 1.0f; }

// SGD's default learning rate for each hidden unit kind (cd_config::lr's 0.1 is Bernoulli units'). The
// free energy of a continuous unit grows as x^2 / 2 in its input (Bernoulli's as x), so its rate must be
// smaller (Hinton's guide, section 13.3, for linear units). Chosen on the built-in digits (784-100,
// CD-1, 10 epochs, AIS held-out log-likelihood; bench/RESULTS.md, tenth session): Gaussian 0.001 of
// 0.0003 to 0.1 (0.1 diverged within an epoch), ReLU 0.01 of 0.003 to 0.1.
inline float default_sgd_lr(unit_kind hidden) {
  return hidden == unit_kind::gaussian ? 0.001f : hidden == unit_kind::relu ? 0.01f : 0.1f;
}

// SGD's default rate for a stack's generative layer of Gaussian visible units (sigma 1, unstandardised)
// over the continuous hidden units below it. Its hidden kind's rate (0.1, Bernoulli) diverges there: chosen
// on the built-in digits (a ReLU 784-100 at its defaults, then 100-60 on its means, 10 epochs, batches of
// 100, AIS held-out log-likelihood of 2,000 images, two seeds: 0.001 -130.6 / -130.9, 0.003 -127.1 /
// -128.6, 0.01 -134.2 / -137.8, 0.03 -155.5 / -149.8, 0.1 diverged in epoch 1; thirteenth session). A
// labelled top keeps its hidden kind's rate: 0.1 was the best for its accuracy (docs/dbn.md).
inline constexpr float gaussian_layer_sgd_lr = 0.003f;

// SGD's default rate for a layer of a stack whose layer below has `below` hidden units (Bernoulli for
// the bottom layer): gaussian_layer_sgd_lr for a generative layer over continuous units, else its
// hidden kind's rate (a labelled top's included). The CLI and the Python DBNs both ask here.
inline float default_layer_sgd_lr(unit_kind below, unit_kind hidden, bool labelled) {
  return below != unit_kind::bernoulli && !labelled ? gaussian_layer_sgd_lr : default_sgd_lr(hidden);
}

// Learned sigma's estimator and rate where the caller sets neither (the CLI's --learn-sigma, Python's
// GaussianRBM(learn_sigma=True)): parallel tempering over 10 temperatures at rate 0.001 (SGD). CD's
// learned sigma loses to sigma fixed at 1 on photo patches (its negative phase at small sigma); under
// tempering at 0.001 it beats it on the patches, scikit-learn's digits (given a thousand updates) and
// standardised Fashion-MNIST (bench/RESULTS.md, twelfth session).
struct learned_sigma_defaults {
  static constexpr int tempering = 10;
  static constexpr float lr = 0.001f;
};

// Everything besides the parameters that a training run carries from one update to the next, so that a
// run resumed from a checkpoint continues exactly as if it had never stopped.
struct training_state {
  std::vector<float> vel_w, vel_vb, vel_hb;  // momentum (Adam: the first moment), [nv * nh], [nv], [nh]
  std::vector<float> chain_h;                // PCD: sampled hidden states [chains, nh]
  // Parallel tempering: each chain's replicas, chain-major (chain r's replica t at row r x replicas + t):
  // visible states [chains x replicas, nv] and hidden states [chains x replicas, nh] (else empty).
  std::vector<float> tempered_v, tempered_h;
  std::vector<float> vel_log_sigma;          // learned sigma: momentum of log sigma [nv] (else empty)
  std::vector<float> vel_label_w, vel_label_b;  // a label group: momentum [classes * nh], [classes] (else empty)
  // Adam: the second moments beside the first (vel_*), empty under SGD.
  std::vector<float> sq_w, sq_vb, sq_hb, sq_log_sigma, sq_label_w, sq_label_b;
  int chains = 0;
  std::uint64_t rng_position = 0;            // uniforms drawn so far from the training generator
  std::uint64_t updates = 0;                 // updates taken (Adam's bias corrections)
};

// Uniforms one CD-k step on `rows` samples consumes, in this order: h0 [rows, nh], then for each Gibbs
// step v_i [rows, nv] and h_i [rows, nh]. Both backends draw exactly this layout from Philox4x32-10.
inline std::size_t cd_uniform_count(int rows, int nv, int nh, int k) {
  return std::size_t(rows) * (std::size_t(nh) + std::size_t(k) * (std::size_t(nv) + nh));
}

// Where one CD-k step's draws lie in the Philox sequence, for any visible kind: segment h0 [rows, nh]
// (uniforms), then per Gibbs step a visible segment v_i [rows, nv] (uniforms for Bernoulli units,
// standard normals for sampled Gaussian ones, none for mean-field Gaussian ones) and h_i [rows, nh]
// (uniforms); categorical visible units draw one uniform per site ([rows, sites]). Normals are made from pairs of words (rbm::cpu::philox_normals), so where a step
// draws any, every segment is padded to an even length: each starts at an even position. For
// Bernoulli units this is exactly the layout of cd_uniform_count.
// With parallel tempering (cfg.tempering = R > 1) each Gibbs step's segments cover every chain's R
// replicas, chain-major ([rows x R, .]), and a swap segment [rows, R - 1] of uniforms follows the last
// step (padded to even length where normals are drawn).
struct cd_draw_layout {
  std::size_t first = 0;                // segment h0 [rows, nh], padding included
  std::size_t hidden = 0, visible = 0;  // a Gibbs step's hidden and visible segments, padding included
  std::size_t swaps = 0;                // parallel tempering's swap segment (else 0)
  bool visible_normals = false;         // the visible segments hold normals
  int k = 1;
  // Start of segment h0, then of Gibbs step i's visible and hidden segments, then of the swaps.
  std::size_t h0() const { return 0; }
  std::size_t v(int step) const { return first + std::size_t(step) * (visible + hidden); }
  std::size_t h(int step) const { return v(step) + visible; }
  std::size_t swap() const { return first + std::size_t(k) * (visible + hidden); }
  std::size_t total() const { return swap() + swaps; }
};

inline cd_draw_layout make_draw_layout(int rows, const cd_config& c) {
  cd_draw_layout l;
  l.k = c.k;
  const std::size_t chains = std::size_t(rows) * std::size_t(replicas_of(c));  // rows of a Gibbs step
  const std::size_t bh = chains * c.nh, bv = chains * c.nv;
  l.visible_normals = c.visible == unit_kind::gaussian && c.visible_sample;
  const auto even = [&](std::size_t n) { return l.visible_normals ? n + (n & 1) : n; };
  l.first = even(std::size_t(rows) * c.nh);
  l.hidden = even(bh);
  if (c.visible == unit_kind::bernoulli)
    l.visible = bv;
  else if (c.visible == unit_kind::categorical)  // one uniform per site
    l.visible = chains * std::size_t(c.states > 0 ? c.nv / c.states : c.nv);
  else
    l.visible = c.visible_sample ? even(bv) : 0;
  if (replicas_of(c) > 1) l.swaps = even(std::size_t(rows) * std::size_t(replicas_of(c) - 1));
  return l;
}

// Uniforms one generative (or hybrid) step of a model with a label group draws on `rows` rows, in the
// same layout on both backends: h0 [rows, nh], then per Gibbs step v [rows, nv], y [rows] (one per
// row: the label group, softmax_units) and h [rows, nh].
// Where sampled Gaussian visible units draw normals in the visible segments (the CPU's label step),
// every segment is padded to an even length, as in cd_draw_layout.
struct label_draw_layout {
  std::size_t first = 0, visible = 0, labels = 0, hidden = 0;  // h0, then per step v, y and h
  bool visible_normals = false;                                 // the visible segments hold normals
  int k = 1;
  std::size_t v(int step) const { return first + std::size_t(step) * (visible + labels + hidden); }
  std::size_t y(int step) const { return v(step) + visible; }
  std::size_t h(int step) const { return y(step) + labels; }
  std::size_t total() const { return v(k); }
};

inline label_draw_layout make_label_draw_layout(int rows, int nv, int nh, int k, bool visible_normals = false) {
  const auto even = [&](std::size_t n) { return visible_normals ? n + (n & 1) : n; };
  label_draw_layout l;
  l.k = k;
  l.visible_normals = visible_normals;
  l.first = l.hidden = even(std::size_t(rows) * nh);
  l.visible = even(std::size_t(rows) * nv);
  l.labels = even(std::size_t(rows));
  return l;
}

// The layout a label step of `c` draws: normals in the visible segments for sampled Gaussian units.
inline label_draw_layout make_label_draw_layout(int rows, const cd_config& c) {
  return make_label_draw_layout(rows, c.nv, c.nh, c.k, c.visible == unit_kind::gaussian && c.visible_sample);
}

inline std::size_t label_draw_count(int rows, int nv, int nh, int k) {
  return make_label_draw_layout(rows, nv, nh, k).total();
}

// Evaluation draws from its own generator, seeded from the training seed with this salt and restarted
// at every evaluation, in chunks of `eval_chunk` rows: h [b, nh] then v [b, nv] per chunk.
constexpr std::uint64_t eval_seed_salt = 0x9e3779b97f4a7c15ull;
constexpr int eval_chunk = 500;

}  // namespace rbm
