// Label groups (a classification RBM, Larochelle & Bengio, ICML 2008): the exact class probabilities
// p(y | x) of a model with a softmax label group, and the discriminative update, the exact gradient
// of log p(y | x). On the CPU (OpenBLAS for the products, the shared unit maths of units.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "rbm/cd_config.hpp"
#include "rbm/host/backend.hpp"

namespace rbm {

// log p(y | x) of every class y for each row of v [rows, nv] (visible values as the model's units take
// them: in [0, 1] for Bernoulli units, real for Gaussian ones) into out [rows, classes], in double. The
// visible terms of the free energy cancel:
//   log p(y | x) = b_y + sum_j softplus(c_j + U_yj + (x' W)_j) - log sum_y' exp(same for y'),
// x' = x / sigma for Gaussian units. Precondition: p.labeled().
void class_log_probs(const model_params& p, const float* v, int rows, double* out);

// The same from the rows' hidden inputs a [rows, nh] = c + x' W (what class_log_probs computes first).
void class_log_probs_from_hidden(const model_params& p, const float* a, int rows, double* out);

// The model of p(v, h | y) for a labelled model: the label clamped to class y adds U_y to the hidden
// biases (and b_y, a constant, to the energy), so Gibbs sampling this label-free model draws pictures
// of class y. Precondition: p.labeled(), 0 <= y < classes.
model_params clamp_label(const model_params& p, int y);

namespace cpu {
class thread_team;
}

// Scratch of the label step, grown on demand; `team` (optional) shares its row and column loops (the
// sums keep the row order, so any team size gives the same bits).
struct classification_workspace {
  cpu::thread_team* team = nullptr;
  std::vector<float> x, a, g, sig, d, grad_u, grad_b, grad_c;
  std::vector<float> gw;  // Adam: the weight gradient [nv, nh]
  std::vector<double> loss;  // per row
  std::vector<float> h0p, hs, hp, vs, u, ly;  // the joint Gibbs chain
  std::vector<float> vx;   // Gaussian visible units: the chain's vs / sigma, as the hidden layer reads it
  std::vector<float> hin;  // continuous hidden units: their inputs, which their draws read
  std::vector<int> ys;
  std::vector<double> logits, probs;
};

// Writes the uniforms [offset, offset + n) of one step's draws into out.
using label_uniforms = std::function<void(std::size_t offset, std::size_t n, float* out)>;

struct label_step_result {
  double reconstruction_error = 0;  // mean (v0 - v1)^2 of the first sampled reconstruction (generative term)
  double class_loss = 0;            // mean -log p(y | x) before the update (discriminative term)
};

// The discriminative term of rows y [rows] whose hidden inputs ws.a [rows, nh] = c + x' W are in
// place: with p_k = p(k | x), s_k = sigmoid(a + U_k) and G = s_y - sum_k p_k s_k (left in ws.g
// [rows, nh], for the caller's d/dW = x'^T G and d/dx' = G W^T), adds weight x the gradient of the
// summed log p(y | x) to ws.grad_u ([k = y] - p_k) s_k, ws.grad_c (G) and ws.grad_b ([k = y] - p_k),
// which the caller sizes (and zeroes). Rows and columns on ws.team, sums in row order. Returns the
// summed -log p(y | x). cpu_label_step's discriminative term, and fine-tuning's head (weight -1: the
// gradient of the loss).
double add_class_gradient(const model_params& p, const int* y, int rows, float weight, classification_workspace& ws);

// One update of a labelled model on rows v [rows, nv] with labels y [rows]: disc_weight x the exact
// gradient of log p(y | x) + gen_weight x the CD-k gradient of the joint log-likelihood of (x, y)
// (Larochelle & Bengio's objectives: discriminative (1, 0), generative (0, 1), hybrid (1, alpha)),
// applied with the CD step's momentum and decay. The generative term runs the Gibbs chain on the
// joint: h0 ~ p(h | x, y), then k times v ~ p(v | h), y ~ softmax(b + h U^T) (softmax_units::sample,
// one uniform per row), h ~ p(h | v, y), drawing make_label_draw_layout's uniforms from `uniforms`
// (a categorical site one uniform, a Gaussian unit its mean, or with cfg.visible_sample its mean plus
// sigma times the visible segment's normal from `normals`); with cfg.pcd the chain goes on from
// st.chain_h. The visible biases move with the generative term only.
label_step_result cpu_label_step(model_params& p, training_state& st, const float* v, const int* y, int rows,
                                 const cd_config& cfg, float disc_weight, float gen_weight,
                                 const label_uniforms& uniforms, classification_workspace& ws,
                                 const label_uniforms* normals = nullptr);

// One discriminative update on rows v [rows, nv] with labels y [rows] in [0, classes): the batch mean of
// the exact gradient of log p(y | x) (W, hidden biases, label_W, label_b; the visible biases and sigma
// do not enter p(y | x) and stay), applied with cfg.lr, cfg.momentum (st.vel_w, vel_hb, vel_label_w,
// vel_label_b, created at zero when absent) and cfg.weight_decay on W and label_W, as the CD step:
// vel = momentum vel + lr (gradient - decay W); W += vel. Returns the batch's mean -log p(y | x) before
// the update.
double cpu_discriminative_step(model_params& p, training_state& st, const float* v, const int* y, int rows,
                               const cd_config& cfg, classification_workspace& ws);

}  // namespace rbm
