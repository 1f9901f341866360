// How good is a model: exact log Z by enumeration (small layers), annealed importance sampling
// (Salakhutdinov & Murray 2008) for any size, log-likelihood and pseudo-log-likelihood of binary data.
// All on the CPU with OpenBLAS; data are binarised at 128 (pixel >= 128 -> 1) for likelihoods.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "rbm/ais.hpp"
#include "rbm/host/backend.hpp"

namespace rbm::cpu {
class thread_team;
}

namespace rbm {

namespace cpu {
class thread_team;
}

// Reconstruction errors and free energy of host rows (pixels or values) under p, on the CPU: what
// backend::evaluate returns. Draws its uniforms from the evaluation sequence (seed ^ eval_seed_salt),
// restarted at every call, in chunks of eval_chunk rows dealt round-robin to the team's threads (none:
// the calling thread), so any thread count draws alike.
eval_result evaluate_rows(const model_params& p, std::uint64_t seed, const rows_view& rows, cpu::thread_team* team);

// log sum_i exp(x_i), in double, without overflow (x not empty).
double log_sum_exp(const std::vector<double>& x);

// pixel >= 128 -> 1, else 0: the binary data that likelihoods are measured on.
std::vector<float> binarize(const std::uint8_t* data, std::size_t n);

// log Z by summing over every configuration of the smaller layer (at most `max_units` units),
// in double precision. Throws precondition_error when both layers are larger. Gaussian visible
// units: the hidden layer is enumerated (at most `max_units` units) and the visible units integrated
// out in closed form. With a team, its threads share the configurations.
double exact_log_z(const model_params& p, int max_units = 24, cpu::thread_team* team = nullptr);

// log2 of the number of configurations exact_log_z sums over for p (the smaller binary layer, the
// hidden states beside Gaussian or categorical visible units, the visible configurations beside
// continuous hidden units); infinity where there is no such sum (Gaussian visible and continuous
// hidden units). exact_log_z(p, m) works where this is at most m.
double exact_log_z_bits(const model_params& p);

// Mean over rows of log p(v) = -F(v) - log Z for binary v [rows, nv] (for Gaussian visible units: real
// v, and log p a density).
double mean_log_likelihood(const model_params& p, const float* v, int rows, double log_z);

// The baseline a Gaussian-visible model must beat: the mean held-out log density of test [test_rows, dim]
// under independent Gaussians fitted (mean, variance) to train [train_rows, dim]; a feature that
// does not vary gets variance 1, as standardisation gives it.
// log Z of a model with Gaussian visible units by AIS from a base model of independent Gaussians
// (means `base_mean`, standard deviations `base_sd` [nv], e.g. fitted to the data; W = 0, hb = 0),
// drawing normals and uniforms from Philox with opt.seed (widths padded to even). With a team, its
// threads share the runs (the same draws for each run on any thread count).
ais_result ais_log_z_gaussian(const model_params& p, const std::vector<float>& base_mean,
                              const std::vector<float>& base_sd, const ais_options& opt, cpu::thread_team* team = nullptr);

// Per-feature mean and standard deviation of data [rows, dim] (a feature that does not vary gets 1): the
// base model of ais_log_z_gaussian, and the baseline below.
void fit_independent_gaussians(const float* data, int rows, int dim, std::vector<float>& mean, std::vector<float>& sd);

double independent_gaussians_log_likelihood(const float* train, int train_rows, const float* test, int test_rows,
                                            int dim);

// Mean over rows of sum_i log p(v_i | v_-i), exact (every bit flipped in turn), binary v [rows, nv].
// With a team, its threads share the rows.
double pseudo_log_likelihood(const model_params& p, const float* v, int rows, cpu::thread_team* team = nullptr);

// Visible biases of the base-rate model: log-odds of each pixel's frequency in binary v [rows, nv],
// smoothed by adding 5% of a pseudo-sample so that no pixel has probability 0 or 1. With a
// `threshold`, v holds real values and counts as 1 where v >= threshold (binarised on the fly).
std::vector<float> base_rate_bias(const float* v, int rows, int nv, float threshold = std::nanf(""));

// Estimates log Z by AIS from the base-rate model with visible bias `base_vb` (hidden bias 0, W = 0).
// With a team, its threads share the runs (the same uniforms for each run on any thread count).
// Categorical visible units: the base model is independent sites with logits `base_vb` (e.g. the log
// state frequencies), each site drawn with the first of its row's uniforms.
ais_result ais_log_z(const model_params& p, const std::vector<float>& base_vb, const ais_options& opt,
                     cpu::thread_team* team = nullptr);

}  // namespace rbm
