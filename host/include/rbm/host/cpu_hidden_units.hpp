// The hidden layer's passes for every hidden unit kind (rbm/units.hpp): Bernoulli units go to the
// vectorised sigmoid passes of cpu_kernels.hpp, the continuous kinds (Gaussian, ReLU) to the shared
// double-precision unit maths, compiled without -ffast-math (their tails need exact infinities and
// erfc).
#pragma once

#include "rbm/units.hpp"

namespace rbm::cpu {

// x [rows, cols] holds pre-activations (v W); x becomes the conditional means of units of kind k with
// total input x + bias.
void hidden_mean_rows(unit_kind k, float* x, const float* bias, int rows, int cols);

// As hidden_mean_rows, and `states` [rows, cols] the draws, unit (r, c) drawing from u[r * cols + c].
void hidden_sample_rows(unit_kind k, float* x, const float* bias, const float* u, int rows, int cols, float* states);

// sum_j of unit kind k's log integral (or sum) at total inputs x[j], j < n: the hidden part of -F(v).
double hidden_log_integral_sum(unit_kind k, const double* x, int n);

// Annealed importance sampling at inverse temperature beta, rows [rows, n] row-major: h drawn from
// kind k's conditional at total input beta (pre + hb) (Bernoulli: cpu::ais_sample_hidden) ...
void ais_hidden_rows(unit_kind k, const float* pre, const float* hb, double beta, const float* u, int rows, int nh,
                     float* h);
// ... and logw[r] += (beta - beta_prev) v_r.dvb + sum_j L(beta x_rj) - L(beta_prev x_rj), x = pre + hb,
// L kind k's log integral (Bernoulli: softplus, cpu::ais_add_log_weights).
void ais_add_hidden_log_weights(unit_kind k, const float* v, const float* dvb, const float* pre, const float* hb,
                                double beta, double beta_prev, int rows, int nv, int nh, double* logw);

// sum over the bits of binary row v [nv] of log p(v_i | v_-i) (as cpu::pseudo_log_likelihood_row),
// x [nh] = v W + hb, for hidden units of kind k.
double pseudo_log_likelihood_row(unit_kind k, const float* v, const float* w, const float* vb, const double* x, int nv,
                                 int nh);

}  // namespace rbm::cpu
