// The CPU maths of one RBM layer, for every visible kind (OpenBLAS + the shared unit maths): what the
// CPU backend, the evaluation, the classifier, the stack and the tools call. It depends on no backend.
#pragma once

#include "rbm/host/model_params.hpp"

namespace rbm {

// The GEMM parts of the conditionals: out [rows, nh] = v W (v [rows, nv]; already v / sigma for
// Gaussian units), and out [rows, nv] = h W^T (h [rows, nh]).
void cpu_hidden_pre(const model_params& p, const float* v, int rows, float* out);
void cpu_visible_pre(const model_params& p, const float* h, int rows, float* out);

// out [rows, nh] = p(h = 1 | v) for v [rows, nv], for every visible kind: sigmoid(v W + hb) for Bernoulli
// visible units, sigmoid((v / sigma) W + hb) for Gaussian ones (OpenBLAS + the shared sigmoid). The one
// CPU place that computes it: the tools, the stack's propagation and the tests call this.
void cpu_hidden_probs(const model_params& p, const float* v, int rows, float* out);
// out [rows, nv] = the visible means given h [rows, nh]: p(v = 1 | h) = sigmoid(h W^T + vb) for Bernoulli
// units, E[v | h] = vb + sigma h W^T for Gaussian ones, each site's softmax(h W^T + vb) over its states
// for categorical ones.
void cpu_visible_probs(const model_params& p, const float* h, int rows, float* out);

// Free energy F(v) = -v.vb - sum_j softplus(hb_j + (v W)_j) of each row of v [rows, nv].
void cpu_free_energy(const model_params& p, const float* v, int rows, double* out);
// F(v) of each row from its hidden pre-activations pre = v W (without hb; v / sigma W for Gaussian
// visible units).
void cpu_free_energy_from_pre(const model_params& p, const float* v, const float* pre, int rows, double* out);

}  // namespace rbm
