// The CPU backend's element-wise passes, compiled on their own with -ffast-math so that the shared
// sigmoid vectorises (glibc's vector expf), and cloned for AVX2 where the processor has it. Each
// element's result depends on nothing but its inputs (the error sum: on its inputs and their order).
// The backend calls them from its thread team, each thread on its own rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rbm::cpu {

// x[r, c] = sigmoid(x[r, c] + bias[c]) for x [rows, cols].
void sigmoid_rows(float* x, const float* bias, int rows, int cols);

// out[i] = (u[i] < p[i]) for n elements; `out` may alias `p`.
void sample(const float* p, const float* u, std::size_t n, float* out);

// One pass over a layer's pre-activations x [rows, cols], with p = sigmoid(x[r, c] + bias[c]) and
// u[r * cols + c] its uniform: x becomes p and states [u < p], exactly as sigmoid_rows then sample
// (a layer whose probabilities the update needs) ...
void sigmoid_sample_rows(float* x, const float* bias, const float* u, int rows, int cols, float* states);
// ... or x becomes [u < p] (a layer whose states alone are needed), the comparison made without
// the division (so only a u within rounding of p may come out otherwise than in sample()).
void sample_logistic_rows(float* x, const float* bias, const float* u, int rows, int cols);

// Gaussian visible units (rbm::gaussian_units) over x [rows, cols] holding h W^T: x becomes the mean
// vb[c] + sigma[c] x, plus sigma[c] normals[r * cols + c] when `normals` is not null (a sample).
void gaussian_visible_rows(float* x, const float* vb, const float* sigma, const float* normals, int rows, int cols);

// Categorical visible units (sites of q one-hot units, the state index fastest) over x [rows, sites * q]
// holding h W^T: x becomes each site's softmax(x + vb) (softmax_units::mean, in double) ...
void categorical_mean_rows(float* x, const float* vb, int rows, int sites, int q);
// ... and probabilities p [rows, sites * q] become one-hot states, each site's drawn with its uniform
// u[r * sites + s] (softmax_units::sample over the probabilities, in double).
void categorical_draw_rows(float* p, const float* u, int rows, int sites, int q);

// out[r, c] = v[r, c] / sigma[c]: what the hidden layer sees of Gaussian visible units.
void scale_by_sigma_rows(const float* v, const float* sigma, int rows, int cols, float* out);

// sum of (a[i] - b[i])^2 (the reconstruction error): float lanes over blocks of 1024, blocks in double.
double squared_error(const float* a, const float* b, std::size_t n);

// g[c] = sum over rows 0..rows-1, in that order, of pos[r, c] - neg[r, c] for the columns c in
// [c0, c1) of [rows, cols] arrays (row by row, vectorised across columns).
void column_diff_sums(const float* pos, const float* neg, int rows, int cols, std::size_t c0, std::size_t c1, float* g);

// dst[i] = src[i] * scale (pixels to [0, 1]).
void scale_bytes(const std::uint8_t* src, int n, float scale, float* dst);

// The weight step after the gradient GEMMs have accumulated into vel (scaled by momentum through their
// beta): vel -= decay * w; w += vel — one pass over both arrays.
void apply_weight_step(float* w, float* vel, std::size_t n, float decay);

// Annealed importance sampling at inverse temperature beta (rbm/ais.hpp), row-major [rows, n], the
// expressions of the device's kernels (cuda/src/ais_kernels.cu) so that both draw and weigh alike:
// h = [u < sigmoid(beta (pre + hb))] ...
void ais_sample_hidden(const float* pre, const float* hb, double beta, const float* u, int rows, int nh, float* h);
// ... v = [u < sigmoid((1 - beta) bA + beta (vpre + vb))], with beta = 0 `vpre` and `vb` unread ...
void ais_sample_visible(const float* vpre, const float* vb, const float* base_vb, double beta, const float* u, int rows,
                        int nv, float* v);
// ... logw[r] += (beta - beta_prev) v_r.dvb + sum_j softplus(beta x_rj) - softplus(beta_prev x_rj),
// x = pre + hb, dvb = vb - bA (sums in double).
void ais_add_log_weights(const float* v, const float* dvb, const float* pre, const float* hb, double beta,
                         double beta_prev, int rows, int nv, int nh, double* logw);

// sum_j softplus(x[j]) for n doubles, in double.
double softplus_sum(const double* x, int n);

// sum over the bits i of one binary row v [nv] of log p(v_i | v_-i), in double: with x [nh] = v W + hb
// and s = 1 - 2 v_i, flipping bit i changes -F(v) by d = s vb_i + sum_j softplus(x_j + s W_ij)
// - sum_j softplus(x_j), and log p(v_i | v_-i) = -softplus(d). w is W [nv, nh].
double pseudo_log_likelihood_row(const float* v, const float* w, const float* vb, const double* x, int nv, int nh);

}  // namespace rbm::cpu
