// What every backend computes and the one small interface the training loop drives. The loop, metrics
// and writers know nothing of which backend runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rbm/ais.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/model_params.hpp"
#include "rbm/units.hpp"

namespace rbm {

// Grey pixel 0..255 -> probability in [0, 1]; every backend and test converts with exactly this.
inline float pixel_to_unit(std::uint8_t x) { return static_cast<float>(x) * (1.0f / 255.0f); }

// Averages over every pixel (errors) or every sample (free energy) of an evaluated set.
struct eval_result {
  double err_sampled = 0;     // mean (v0 - v1)^2, v1 ~ p(v | h0), h0 ~ p(h | v0): the tutorial's metric
  double err_mean_field = 0;  // mean (v0 - p(v | p(h | v0)))^2
  double free_energy = 0;     // mean F(v0)
  long samples = 0;
};

// Rows a backend reads, [rows, cols] row-major, in exactly one of three forms: grey pixels in host
// memory (read as x / 255, so grey values act as probabilities), real values in host memory, or real
// values in this backend's GPU memory (a CUDA array through the Python binding); with, for a model
// with a label group, the rows' classes [rows] in [0, classes) in host memory.
struct rows_view {
  const std::uint8_t* pixels = nullptr;
  const float* values = nullptr;
  const float* device = nullptr;
  int rows = 0, cols = 0;
  const std::uint8_t* labels = nullptr;

  static rows_view of(const std::uint8_t* pixels, int rows, int cols, const std::uint8_t* labels = nullptr) {
    return {pixels, nullptr, nullptr, rows, cols, labels};
  }
  static rows_view of(const float* values, int rows, int cols, const std::uint8_t* labels = nullptr) {
    return {nullptr, values, nullptr, rows, cols, labels};
  }
  static rows_view in_gpu(const float* values, int rows, int cols, const std::uint8_t* labels = nullptr) {
    return {nullptr, nullptr, values, rows, cols, labels};
  }
  bool real() const { return pixels == nullptr; }
};

// What attaching GPU rows tells the trainer of them (host rows: nothing): how many values are NaN or
// infinite (then nothing is attached), the finite range, the column means and standard deviations
// (before any standardisation), and the first `head_rows` rows in host memory (standardised when
// asked: then the backend trains on a standardised device copy) for the per-epoch evaluation.
struct attach_summary {
  long long nonfinite = 0;
  float min = 0, max = 0;
  std::vector<float> mean, sd, head;
};
struct attach_options {
  bool standardize = false;  // GPU rows: train on a standardised copy
  int head_rows = 0;         // GPU rows: how many to copy back for evaluation
};

// What one update follows. A model without a label group takes one CD-k (or PCD-k) step (generative
// 1, discriminative 0: the only objective it has). A model with a label group takes discriminative x
// the exact gradient of log p(y | x) + generative x CD-k on the joint of pixels and class
// (rbm/host/classification.hpp, cpu_label_step), reading the attached rows' labels.
// One update's mean gradient before it moves the parameters, in host memory and writable: the CD
// estimate of the log-likelihood's ascent direction, as the update will apply it. A data-parallel
// driver combines the workers' gradients here (averages them across ranks, say), so that every worker
// applies the same one.
struct gradient_view {
  float* w = nullptr;          // [nv, nh]
  float* vb = nullptr;         // [nv] (Gaussian units: divided by sigma^2, as the update uses it)
  float* hb = nullptr;         // [nh] (with the sparsity term where there is one)
  float* log_sigma = nullptr;  // [nv] the gradient of log sigma with learned sigma, else null
  int nv = 0, nh = 0;
  int rows = 0;                // the batch rows it averages
};
using gradient_hook = std::function<void(gradient_view&)>;

struct step_objective {
  float generative = 1;
  float discriminative = 0;
  // Called once per update with its gradient before the update applies it (the CD and PCD steps of
  // both backends, tempering included; the CUDA backend copies the gradient to host memory and back
  // around it; a label group's step refuses one so far).
  gradient_hook on_gradient;
};

// Sums over the updates since the last take_sums(): squared reconstruction error (v0 - v1)^2 of the
// first sampled reconstruction over `values` visible values, and -log p(y | x) over the discriminative
// updates' `labeled_rows`. Sums, not means, so that callers (and later ranks) add them up.
struct train_sums {
  double squared_error = 0, values = 0;
  double class_loss = 0, labeled_rows = 0;
  train_sums& operator+=(const train_sums& o) {
    squared_error += o.squared_error, values += o.values, class_loss += o.class_loss, labeled_rows += o.labeled_rows;
    return *this;
  }
  double reconstruction_error() const { return values > 0 ? squared_error / values : 0.0; }
  double mean_class_loss() const { return labeled_rows > 0 ? class_loss / labeled_rows : 0.0; }
};

// Twelve operations: parameters and optimiser state in and out, the rates, the training rows, one
// update on some of them, what the updates measured, evaluation, log Z, column statistics.
class backend {
 public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;

  virtual void set_params(const model_params& p) = 0;
  // Current parameters in host memory (waits for queued work).
  virtual model_params params() const = 0;
  // Momentum, PCD chains and the generator's position: with the parameters, everything a resumed run
  // needs to continue exactly as if it had not stopped. May wait for queued work.
  virtual training_state state() const = 0;
  virtual void set_state(const training_state& st) = 0;
  // Learning rate and momentum of later updates (schedules).
  virtual void set_rates(float lr, float momentum) = 0;

  // The training rows (kept alive and unchanged by the caller while attached) that step() draws from.
  // A GPU backend may copy host rows to the device here, and evaluate() of those same rows then reads
  // the copy. GPU rows are summarised (and standardised when asked) on the device; backends that read
  // host memory refuse them with precondition_error.
  virtual attach_summary attach(const rows_view& rows, const attach_options& opt = {}) = 0;
  // One update on the attached rows idx [rows] (at most the batch the backend was made for). May return
  // before the update has run (GPU); idx may be reused as soon as it returns.
  virtual void step(const int* idx, int rows, const step_objective& objective = {}) = 0;
  // What the updates since the last call measured; may wait for queued work, so call it only where a
  // number is shown.
  virtual train_sums take_sums() = 0;

  // Reconstruction errors and free energy of host rows (pixels or values; labels are ignored).
  // Deterministic: draws its uniforms from its own generator, restarted at every call, so it never
  // disturbs training. For Gaussian visible units the errors are in data units and the sampled error
  // reconstructs with the mean given sampled hidden states.
  virtual eval_result evaluate(const rows_view& rows) = 0;

  // log Z of the current parameters by annealed importance sampling (rbm/ais.hpp); both backends draw
  // the same uniforms, so they agree up to rounding.
  virtual ais_result ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) = 0;

  // Per-feature mean and standard deviation of host values data [n, d], a constant feature's sd 1 (what
  // --standardize applies). By default fit_independent_gaussians on the CPU; the CUDA backend runs
  // Thrust on the device.
  virtual void column_statistics(const float* data, int n, int d, std::vector<float>& mean, std::vector<float>& sd);

 protected:
  // Checks that idx [rows] are rows of the attached set (and that one is attached).
  void check_indices(const int* idx, int rows) const;
  rows_view attached_;
};

// Attaches `rows` and runs one update on all of them, in order: a one-off update (tests, examples).
void train_on(backend& be, const rows_view& rows, const step_objective& objective = {});

// W ~ N(0, 0.01^2), vb = log(p / (1 - p)) of the pixel means (clipped to [0.001, 0.999]), hb = 0
// (Hinton, "A practical guide to training RBMs", section 8); all zero when `zero` is set.
model_params init_params(int nv, int nh, const std::uint8_t* data, int rows, std::uint64_t seed, bool zero);
// The same from real values in [0, 1] (Bernoulli visible units on .npy data).
model_params init_params_from_values(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero);
// A model of categorical visible units from one-hot rows data [rows, nv] (nv = sites x states): W as
// above, vb the log of each state's frequency at its site (clipped to [0.001, 0.999]), hb = 0.
model_params init_categorical_params(int nv, int nh, int states, const float* data, int rows, std::uint64_t seed,
                                     bool zero);
// A Gaussian-Bernoulli model for real values data [rows, nv]: W as above (the same draws), vb the
// per-feature means, hb = 0, sigma = 1 (data standardised, Hinton's guide section 13.2); zero: W = 0.
model_params init_gaussian_params(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero);

}  // namespace rbm
