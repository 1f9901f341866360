// Raw kernel launchers of rbm::cuda. All work on caller-owned device pointers, are asynchronous on the
// given stream, never synchronise, and throw cuda_error (naming the kernel) if the launch fails.
// Shapes are row-major; sizes may be anything positive (no multiple-of-block requirement).
#pragma once

#include <cstddef>
#include <cstdint>

#include "rbm/optimizer.hpp"
#include "rbm/resources.hpp"
#include "rbm/units.hpp"

namespace rbm {

// prob[r, c] = sigmoid(pre[r, c] + bias[c]) and, when `state` is not null,
// state[r, c] = (u[r, c] < prob[r, c]). `prob` may alias `pre`. `bias` [cols].
void sigmoid_sample(const float* pre, const float* bias, const float* u, float* prob, float* state, int rows,
                    int cols, stream_view s);

// Hidden units of kind `hidden` (rbm/units.hpp): prob[r, c] = their conditional mean at total input
// pre[r, c] + bias[c] and, when `state` is not null, state[r, c] = their draw from u[r, c] (one uniform
// each, the continuous kinds in double as on the CPU). Bernoulli units: sigmoid_sample.
void hidden_sample(unit_kind hidden, const float* pre, const float* bias, const float* u, float* prob, float* state,
                   int rows, int cols, stream_view s);

// Categorical visible units (rbm/units.hpp): x [rows, sites * q] holding h W^T, each site's q units
// (state index fastest) become the softmax of x + vb in double, rounded to float (the means), then
// one-hot at the state drawn from those float means with the site's uniform u[r * sites + s]
// (softmax_units::sample), as the CPU's categorical_mean_rows and categorical_draw_rows; u null: the
// means alone. A thread a site.
void categorical_sample(float* x, const float* vb, const float* u, int rows, int sites, int q, stream_view s);

// Parallel tempering (cd_config::tempering; the CPU's tempered_sweep and tempered_swaps), over replica
// rows q = chain x R + t [rows = chains x R, cols], t's inverse temperature tempering_beta(t, R):
// x[q, :] *= beta_t (the visible layer's input h W^T, before its bias);
void tempered_scale(float* x, int rows, int cols, int replicas, stream_view s);
// a += hb[c], then x = beta_t a (the hidden layer's tempered input; a kept for the swaps' energies);
void tempered_hidden_input(float* a, const float* hb, float* x, int rows, int cols, int replicas, stream_view s);
// every replica of chains first .. chains - 1 seeded with its data row v0 [chains, nv] and h0 [chains, nh];
void seed_replicas(const float* v0, const float* h0, int first, int chains, int replicas, int nv, int nh, float* tv,
                   float* th, stream_view s);
// then per chain, t = 0 .. R - 2 in turn, neighbouring replicas' states swapped with probability
// min(1, exp((beta_{t+1} - beta_t) (G_t - G_{t+1}))), G = sum_j a[q, j] h[q, j] in double (a thread
// per replica row, then a thread per chain with the swap segment's uniforms u [chains, R - 1]).
void tempered_swaps(const float* a, float* tv, float* th, double* g, const float* u, int chains, int replicas, int nv,
                    int nh, stream_view s);

// out[i] = in[i] / 255 for n bytes.
void bytes_to_unit(const std::uint8_t* in, float* out, std::size_t n, stream_view s);

// out[r, :] = data[idx[r], :] / 255: gathers a shuffled batch from a resident uint8 data set.
// data [*, cols], idx [rows], out [rows, cols].
void gather_to_unit(const std::uint8_t* data, const int* idx, int rows, int cols, float* out, stream_view s);

// out[r, :] = data[idx[r], :]: gathers a shuffled batch from a resident real-valued data set.
void gather_rows(const float* data, const int* idx, int rows, int cols, float* out, stream_view s);

// The bias step of CD, one pass: g[c] = mean_r(pos[r, c] - neg[r, c]), plus, when sparsity_cost > 0,
// sparsity_cost * (sparsity_target - mean_r(act[r, c])); vel = momentum * vel + lr * g; bias += vel.
void bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float lr, float momentum,
                 float sparsity_target, float sparsity_cost, float* vel, float* bias, stream_view s);

// x[i] *= factor for n values.
void scale_values(float* x, std::size_t n, float factor, stream_view s);

// bias_update's gradient alone, written to g [cols]: mean_r(pos - neg) (over sigma^2 where sigma is
// given) plus the sparsity term (a gradient hook's view; rbm::model::set_gradient_hook).
void bias_gradient(const float* pos, const float* neg, const float* act, int rows, int cols, float sparsity_target,
                   float sparsity_cost, const float* sigma, float* g, stream_view s);

// The same for Gaussian visible units with standard deviations sigma [cols] (null: as above): the
// mean difference is divided by sigma[c]^2 (-dE/db of a Gaussian unit is (v - b) / sigma^2).
void bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float lr, float momentum,
                 float sparsity_target, float sparsity_cost, const float* sigma, float* vel, float* bias, stream_view s);

// Gaussian visible units (rbm/units.hpp) over x [rows, cols] holding h W^T: x becomes the mean
// vb[c] + sigma[c] x, plus sigma[c] normals[r, c] when `normals` is not null (a sample).
void gaussian_visible(float* x, const float* vb, const float* sigma, const float* normals, int rows, int cols,
                      stream_view s);
// out[r, c] = v[r, c] / sigma[c]: what the hidden layer sees of Gaussian visible units.
void scale_by_sigma(const float* v, const float* sigma, int rows, int cols, float* out, stream_view s);

// Learned sigma (Gaussian units): g[c] (+)= sign * sum_r log_sigma_gradient(v[r, c], vb[c], sigma[c],
// x[r, c]) for x = h W^T (written when `accumulate` is false, added to when true); then the step
// vel = momentum * vel + lr * g / rows, sigma = gaussian_units::variance_step(sigma, vel, floor).
void sigma_gradient(const float* v, const float* x, const float* vb, const float* sigma, int rows, int cols, float sign,
                    bool accumulate, float* g, stream_view s);
void log_sigma_step(const float* g, int cols, int rows, float lr, float momentum, float floor, float* vel, float* sigma,
                    stream_view s);

// The weight step after the gradient GEMMs have accumulated into vel (momentum applied through their
// beta): vel -= decay * w; w += vel, in one pass (decay = lr * weight_decay).
void apply_weight_step(float* w, float* vel, std::size_t n, float decay, stream_view s);

// Adam (rbm/optimizer.hpp's adam_rule) on the device. The update count lives in device memory so that
// a captured step stays valid: adam_advance (one thread) counts an update, *t += 1, and writes that
// update's bias-corrected rate, *rate = adam_rule::at(lr, *t).rate; the steps below read *rate.
void adam_advance(double lr, std::uint64_t* t, float* rate, stream_view s);
// w += adam step of the gradient scale * g (first moment m, second sq) - decay * w, element-wise (the
// CPU's decoupled decay: decay = lr * weight_decay); the label step's sums take scale = 1 / rows.
void adam_weight_step(float* w, const float* g, float* m, float* sq, std::size_t n, float scale, const float* rate,
                      float decay, stream_view s);
// bias_update's gradient (sigma and the sparsity term as there) times `weight` (the label step's
// generative weight; 1 for CD) moved by Adam: bias += step(weight * g, m, sq).
void adam_bias_update(const float* pos, const float* neg, const float* act, int rows, int cols, float sparsity_target,
                      float sparsity_cost, const float* sigma, float weight, const float* rate, float* m, float* sq,
                      float* bias, stream_view s);
// log_sigma_step under Adam, as the CPU: z = step(g / rows, m, sq) (no bound: Adam's step is at most
// about the rate), sigma = max(floor, sigma * exp(z)).
void adam_log_sigma_step(const float* g, int cols, int rows, const float* rate, float floor, float* m, float* sq,
                         float* sigma, stream_view s);

// *acc += sum_i (a[i] - b[i])^2, accumulated in double on the device.
void accumulate_squared_error(const float* a, const float* b, std::size_t n, double* acc, stream_view s);

// Free energy of each row: F = -v.vb - sum_j softplus(pre[r, j] + hb[j]), where pre = v W.
// Writes out[r] when `out` is not null and adds sum_r F to *acc when `acc` is not null.
void free_energy(const float* v, const float* vb, const float* pre, const float* hb, int rows, int nv, int nh,
                 float* out, double* acc, stream_view s);
// The same for Gaussian visible units (sigma [nv]; null: Bernoulli): F = sum (v - vb)^2 / 2 sigma^2 -
// sum_j softplus(pre + hb), with pre = (v / sigma) W; for `hidden` units of another kind, their log
// integral (hidden_log_integral, in double) in place of softplus.
void free_energy(const float* v, const float* vb, const float* pre, const float* hb, const float* sigma, int rows,
                 int nv, int nh, float* out, double* acc, stream_view s, unit_kind hidden = unit_kind::bernoulli);

// Label groups (a classification RBM, Larochelle & Bengio 2008): `classes` softmax units beside the
// visible ones, with weights label_w [classes, nh] and biases label_b [classes]. `pre` [rows, nh] is the
// hidden layer's input from the visible units (x W), to which every kernel adds hb [nh] first, then
// the class's row of label_w, rounding as the CPU does (rbm/host/classification.hpp). `hidden` is the
// hidden units' kind: for Gaussian and ReLU units each sigmoid below is the kind's mean, each softplus
// its log integral and each draw its own (rbm/units.hpp), as cpu_label_step.

// prob[r, j] = sigmoid(pre[r, j] + hb[j] + label_w[y[r], j]) (the hidden layer given the pixels and
// class y[r]); when `state` is not null, state[r, j] = (u[r, j] < prob[r, j]). prob may alias pre.
void label_hidden(const float* pre, const float* hb, const float* label_w, const int* y, const float* u, float* prob,
                  float* state, int rows, int nh, stream_view s, unit_kind hidden = unit_kind::bernoulli);

// The exact p(k | x) of each row (a block per row, the logits b_k + sum_j softplus(o_kj) summed in
// double) and what the discriminative gradient needs of it: g [rows, nh] = s_y - sum_k p_k s_k with
// s_kj = sigmoid(o_kj), d [rows, classes] = [k = y] - p_k; *loss += sum_r -log p(y_r | x_r).
void label_discriminative(const float* pre, const float* hb, const float* label_w, const float* label_b, const int* y,
                          int rows, int nh, int classes, float* g, float* d, double* loss, stream_view s,
                          unit_kind hidden = unit_kind::bernoulli);

// logits [rows, classes] (double) = label_b[k] + sum_j softplus(pre[r, j] + hb[j] + label_w[k, j]) (the
// kind's log integral for other hidden kinds): label_discriminative's logits, for rows without labels.
void label_logits(const float* pre, const float* hb, const float* label_w, const float* label_b, int rows, int nh,
                  int classes, double* logits, stream_view s, unit_kind hidden = unit_kind::bernoulli);

// y[r] ~ softmax(ly[r, :] + label_b) with the one uniform u[r] (softmax_units::sample); ly = h label_w^T.
void sample_labels(const float* ly, const float* label_b, const float* u, int rows, int classes, int* y,
                   stream_view s);

// The label group's gradient sums over the rows, written into grad_w [classes, nh] and grad_b [classes]:
//   disc_weight sum_r d[r, k] s_rkj (d from label_discriminative; skipped when d is null), then
//   gen_weight sum_r ([y_r = k] h0p[r, j] - [ys_r = k] hp[r, j]) (skipped when ys is null),
// the biases the same without s and h. Each sum runs over the rows in order, as the CPU's.
void label_gradient(const float* pre, const float* hb, const float* label_w, const float* d, const int* y,
                    const int* ys, const float* h0p, const float* hp, int rows, int nh, int classes, float disc_weight,
                    float gen_weight, float* grad_w, float* grad_b, stream_view s,
                    unit_kind hidden = unit_kind::bernoulli);

// The hidden biases' gradient of a label step: grad[j] = disc_weight sum_r g[r, j] (g null: skipped)
// + gen_weight sum_r (h0p[r, j] - hp[r, j]) (h0p null: skipped).
void label_hidden_gradient(const float* g, const float* h0p, const float* hp, int rows, int nh, float disc_weight,
                           float gen_weight, float* grad, stream_view s);

// vel = decayed_velocity(momentum vel + scale grad, param, decay); param += vel (element-wise, n).
void momentum_step(const float* grad, std::size_t n, float scale, float momentum, float decay, float* vel,
                   float* param, stream_view s);

// Backpropagation (rbm/feed_forward.hpp), element-wise over [rows, cols] unless said otherwise.
// d *= the slope of a hidden layer's mean at its total input: a (1 - a) for Bernoulli units (a their
// mean), else hidden_variance at float(pre + bias) (pre the layer's x W, bias [cols]).
void mean_slope(unit_kind hidden, float* d, const float* a, const float* pre, const float* bias, int rows, int cols,
                stream_view s);
// e = e + (b[c] - t) (e holding x w) and *loss += sum e^2 / 2 (in double): a linear head's residuals.
void linear_residuals(float* e, const float* b, const float* t, int rows, int cols, double* loss, stream_view s);
// out[r, c] += b[c].
void add_bias_rows(float* out, const float* b, int rows, int cols, stream_view s);
// One descent step of n parameters along g = scale grad + decay param (the loss's gradient): SGD with
// momentum (vel = momentum vel - lr g; param += vel), or Adam (param -= adam_rule{rate}.step(g, vel, sq)).
void descent_step(optimizer method, float* param, const float* grad, float* vel, float* sq, std::size_t n, float scale,
                  float decay, float lr, float momentum, float adam_rate, stream_view s);

}  // namespace rbm

namespace rbm {

// Annealed importance sampling at inverse temperature beta (rbm/ais.hpp), row-major [rows, n]:
// h = [u < sigmoid(beta (pre + hb))]; for `hidden` units of another kind, their draw at input
// beta (pre + hb) (hidden_sample).
void ais_sample_hidden(const float* pre, const float* hb, double beta, const float* u, float* h, int rows, int nh,
                       stream_view s, unit_kind hidden = unit_kind::bernoulli);
// v = [u < sigmoid((1 - beta) bA + beta (vpre + vb))]; with beta = 0 `vpre` and `vb` are not read.
void ais_sample_visible(const float* vpre, const float* vb, const float* base_vb, double beta, const float* u,
                        float* v, int rows, int nv, stream_view s);
// logw[r] += (beta - beta_prev) v_r.dvb + sum_j softplus(beta x_rj) - softplus(beta_prev x_rj),
// x = pre + hb, dvb = vb - bA (for `hidden` units of another kind, their log integral in place of
// softplus). One block per row.
void ais_accumulate_log_weights(const float* v, const float* dvb, const float* pre, const float* hb, double beta,
                                double beta_prev, int rows, int nv, int nh, double* logw, stream_view s,
                                unit_kind hidden = unit_kind::bernoulli);

}  // namespace rbm
