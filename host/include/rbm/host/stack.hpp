// Deep Belief Networks (Hinton, Osindero & Teh 2006): a stack of RBMs trained greedily, bottom up, each
// on the hidden units of the one below; its model file; features through the stack.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/fine_tune.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm {

// The layers bottom up: layers[0] models the data, layers[i] the hidden units of layers[i - 1] (its nv
// is their nh). Above the bottom, a layer's visible units are Bernoulli over Bernoulli hidden units
// below and Gaussian (sigma 1, the continuous kinds' own conditional variance) over Gaussian or ReLU
// ones, so a continuous hidden layer has Bernoulli hidden units above it (Gaussian visible units with
// continuous hidden units are refused: their energy is unbounded below). Only the bottom layer may
// have categorical visible units, only the top one a label group.
struct stack_model {
  std::vector<model_params> layers;
  std::vector<float> data_mean, data_sd;  // the bottom layer's standardisation (empty without it)
  std::map<std::string, std::string> metadata;  // the file's, as load_stack read it (the image shape, ...)
  // The stack fine-tuned as a classifier (rbm/host/fine_tune.hpp): the layers' shapes, W, hidden
  // biases and the top's label group trained by backpropagation (visible biases and sigma as in
  // `layers`); empty where it was not fine-tuned. `layers` stay the greedy, generative ones.
  std::vector<model_params> tuned;
};

// The stack that classifies: its fine-tuned layers where it has them, else the greedy ones.
stack_model classifier_of(const stack_model& m);

struct stack_options {
  // Every layer's settings unless a list below says otherwise; out_dir (or resume) is the stack's
  // directory, each layer a run of its own in out_dir/layer1, layer2, ... . The bottom layer takes the
  // visible units, binarize and standardize as given; the layers above take their visible kind from
  // the hidden kind below (stack_model) on their input's values, sigma fixed at 1. labels (and
  // objective, alpha, classes) apply to the top layer only. base.validation splits the data once, for
  // the whole stack: every layer's held-out set is the validation rows propagated, and with labels the
  // test set is classified once, by the finished stack (the top's train_result). Where a layer of
  // Bernoulli hidden units trains on the CUDA backend, its output for the training rows is computed on
  // that GPU and the layer above trains on it there (the rows never visit the host; the held-out rows
  // do); continuous hidden units propagate on the CPU.
  train_options base;
  std::vector<int> hidden;  // the layers' hidden units, bottom up (at least one)
  // Per layer: empty = base's value, one value = every layer's, else one per layer (pcd: 0 or 1;
  // hidden_units: base.cd.hidden's kinds).
  std::vector<int> epochs, k, pcd;
  std::vector<float> lr;
  std::vector<unit_kind> hidden_units;  // the hidden kinds
  // Layer i trains on layer i - 1's hidden probabilities, or (samples) on states drawn from them once,
  // from the run's seed.
  bool propagate_samples = false;
  // Before each layer trains (0-based) and after each has finished.
  std::function<void(int layer, int layers)> on_layer;
  // With fine_tune.epochs > 0 (labels only): after the greedy layers, the whole stack is fine-tuned as
  // a classifier on the training rows (fine_tune_classifier), early stopping on base.validation's rows
  // where there are some (else every epoch runs); its seed and threads are the run's.
  fine_tune_options fine_tune;
};

struct stack_result {
  std::vector<train_result> layers;
  stack_model model;
  double propagate_seconds = 0;  // spent computing the layers' inputs (the rest trained)
  std::vector<bool> propagated_on_gpu;  // per layer below the top: whether its output was computed on the GPU
  std::vector<fine_tune_epoch> fine_tune_history;  // with fine_tune.epochs > 0
};

// The options layer `layer` (0-based) trains with, out_dir and resume aside. Throws precondition_error
// for a list whose length is neither 0, 1 nor the number of layers, or a non-positive value.
train_options layer_options(const stack_options& o, int layer);

// Trains the stack greedily; each layer is rbm::train on the layer below's output (its held-out set
// propagated too), so per-layer checkpoints, metrics and pictures are those of a single run. With
// base.resume the stack continues exactly where it stopped: finished layers are read back from their
// directories, the interrupted one resumes from its checkpoint, the plan (stack.json) is the
// original's (a stack stopped while fine-tuning fine-tunes again from the greedy stack). Writes
// out_dir/stack.json, the layers' directories, then model.safetensors (the stack, save_stack),
// metrics.csv (every layer's, a `layer` column first), fine_tune.csv (with fine-tuning) and
// filters-layer<i>.png for each layer (layers above the first projected down to pixel space: W1 W2 ...
// Wi). With no out_dir it trains in memory and writes nothing.
stack_result train_stack(const dataset& data, const stack_options& o);

// The input of the layer above: the hidden means E[h | v] of each row v of `values` [rows, p.nv] (as the
// layer reads its input), or with `sample` states drawn from p(h | v) (one uniform of the Philox
// sequence for `seed` per unit, as every hidden kind draws).
std::vector<float> propagate_up(const model_params& p, const float* values, int rows, bool sample, std::uint64_t seed);

// The down pass of a stack (Hinton et al. 2006's generation): from the top RBM's visible means `top`
// [rows, nv of the top] (a Gibbs chain's), states drawn, then each directed layer below sampled in turn
// (Bernoulli states from uniforms of the Philox sequence for `seed`; Gaussian ones, over continuous
// hidden units, mean + sigma z with normals of that seed's sequence salted apart), and the data
// layer's means p(v | x_1) returned [rows, nv].
// A one-layer stack returns `top` itself.
std::vector<float> down_pass(const stack_model& m, const float* top, int rows, std::uint64_t seed);

// Layer i's hidden units seen in the data's space, for its filters: W1 W2 ... W_{i+1} [nv, nh_i] as the
// weights of a model with layer i's hidden biases (layer 0: the bottom layer itself).
model_params projected(const stack_model& m, int layer);

// Layer i's input for rows of data (as layer 0 reads them) through layers 0 .. i - 1 (probabilities).
std::vector<float> features_at(const stack_model& m, const float* values, int rows, int layer);
// The same on `device` ("auto", "cpu" or "cuda", as rbm::train's): on a GPU where one is chosen (each
// layer's GEMM on the device, rbm::propagate_rows, the rows kept there between layers; equal to the
// CPU's up to the GEMMs' summation order), else on the CPU. "cuda" without a usable GPU throws
// rbm::error saying why.
std::vector<float> features_at(const stack_model& m, const float* values, int rows, int layer, const std::string& device);

// The stack's file: tensors layer<i>.W, layer<i>.vb, layer<i>.hb (layer<i>.sigma, the top's
// layer<L>.label_W and layer<L>.label_b), counting from 1 at the data, with metadata `layers` and each
// layer's own keys prefixed likewise (layer<i>.visible_units, ...); data_mean / data_std where the
// bottom was standardised; a fine-tuned stack's tuned layers likewise as tuned.layer<i>.* (each layer
// whole), metadata `fine_tuned` = "classifier". Written atomically.
void save_stack(const std::string& path, const stack_model& m, const std::map<std::string, std::string>& meta);
// Reads a stack's file, or a single RBM's as a one-layer stack. Throws data_error naming the file and
// the layer: missing or mis-shaped tensors, layers that do not join (nv of one = nh of the one below),
// labels below the top, a visible kind above the bottom that is not the one its hidden units below
// call for (stack_model), tuned tensors of the wrong shape.
stack_model load_stack(const std::string& path);
// Whether the file holds a stack of more than one layer (metadata `layers`).
bool is_stack_file(const std::string& path);

}  // namespace rbm

namespace rbm {

// Likelihoods of a stack of Bernoulli layers on binary rows v [rows, nv]. The layers below the top are
// directed: p(x_l | x_{l+1}) = prod sigmoid(vb_l + W_l x_{l+1}); the top RBM gives the prior of its
// visible units, exp(-F_top(x)) / Z_top, with a label group on the top summed out:
// exp(-F_top(x)) = sum_y exp(-F_top(x, y)), Z_top = sum_y exp(b_y) Z(clamp_label(top, y)).
//
// log Z_top that way: log_z_of(p) itself for a top without labels, else
// log sum_y exp(b_y + log_z_of(clamp_label(p, y))) (one partition function per class, each exact or AIS).
double top_log_z(const model_params& p, const std::function<double(const model_params&)>& log_z_of);
//
//
// The exact log p(v) of each row, every hidden layer enumerated: the top's visible layer (at most 24
// units), each adjacent pair of hidden layers below it (at most 26 units together), the first hidden
// layer per row (at most 20). log Z of the top exactly. Throws precondition_error where they are larger.
std::vector<double> dbn_exact_log_likelihood(const stack_model& m, const float* v, int rows);

// The variational lower bound on log p(v) of each row (Hinton et al. 2006, Salakhutdinov & Murray 2008)
// with q the up-pass, q(x_l | x_{l-1}) = prod sigmoid(hb_{l-1} + x_{l-1} W_{l-1}):
//   E_q[ -F_top(x_T) + sum_l log p(x_l | x_{l+1}) - sum_l log q(x_l | x_{l-1}) ] - log Z_top.
// samples == 0: the expectation exact, by enumerating the first hidden layer (two layers, at most 20
// units); else a Monte Carlo estimate from `samples` draws of q per row (Philox with `seed`), unbiased.
// A one-layer stack gives its RBM's log p(v) = -F(v) - log Z.
std::vector<double> dbn_lower_bound(const stack_model& m, const float* v, int rows, double top_log_z, int samples,
                                    std::uint64_t seed);

}  // namespace rbm
