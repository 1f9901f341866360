// What every backend computes and the one small interface the training loop drives. The loop, metrics
// and writers know nothing of which backend runs.
#pragma once

#include <cstdint>
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

class backend {
 public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;

  virtual void set_params(const model_params& p) = 0;
  // Current parameters in host memory (waits for queued work).
  virtual model_params params() const = 0;

  // One CD-k (or PCD-k) update on `rows` samples of uint8 pixels [rows, nv] in host memory, scaled
  // by 1/255 so grey values act as probabilities. May return before the update has run (GPU); the
  // batch memory may be reused as soon as it returns.
  virtual void train_batch(const std::uint8_t* batch, int rows) = 0;

  // One update on real values [rows, nv] in host memory (Gaussian visible units, or values in [0, 1]
  // for Bernoulli ones). Backends that cannot yet throw precondition_error.
  virtual void train_values(const float* batch, int rows);

  // The training set [n, nv] (host memory, kept alive and unchanged by the caller while attached) that
  // train_indices draws from. A GPU backend may copy it to the device here, and evaluate() of that
  // same pointer then reads the copy.
  virtual void attach_training_data(const std::uint8_t* data, int n, int nv);
  // The same for a real-valued training set [n, nv].
  virtual void attach_training_values(const float* data, int n, int nv);
  // Per-feature mean and standard deviation of data [n, d] (host), a constant feature's sd 1 (what
  // --standardize applies). By default fit_independent_gaussians on the CPU; the CUDA backend runs
  // Thrust on the device.
  virtual void column_statistics(const float* data, int n, int d, std::vector<float>& mean, std::vector<float>& sd);
  // A real-valued training set already in GPU memory [n, nv] (float32, row-major, on this backend's
  // device; kept alive and unchanged by the caller while attached): a CUDA array through the Python
  // binding. Attaches it for train_indices without a trip through host memory, and returns what the
  // trainer needs of it: how many values are NaN or infinite (then nothing is attached), the finite
  // range, the column means and standard deviations (before any standardisation), and the first
  // `head_rows` rows in host memory (standardised when `standardize`: then the backend trains on a
  // standardised device copy) for the per-epoch evaluation. Backends that read host memory throw
  // precondition_error.
  struct device_set {
    long long nonfinite = 0;
    float min = 0, max = 0;
    std::vector<float> mean, sd, head;
  };
  virtual device_set attach_device_values(const float* data, int n, int nv, bool standardize, int head_rows);
  // A label group (model_params::classes): the labels [n] of the attached rows, in [0, classes), kept
  // alive by the caller while attached.
  virtual void attach_labels(const std::uint8_t* labels, int n);
  // One update of a label group's model on the attached rows idx [rows] and their labels:
  // disc_weight x the exact gradient of log p(y | x) + gen_weight x CD-k on the joint of pixels and
  // class (rbm/host/classification.hpp, cpu_label_step). Backends without label groups throw
  // precondition_error.
  virtual void train_labeled(const int* idx, int rows, float disc_weight, float gen_weight);
  // Mean -log p(y | x) of the discriminative updates since reset_train_error() (their loss, the
  // counterpart of train_error's reconstruction error).
  virtual double train_class_loss() { return class_rows_ > 0 ? class_loss_ / class_rows_ : 0.0; }
  // One update on the attached rows idx [rows]. By default gathers them on the host for train_batch.
  virtual void train_indices(const int* idx, int rows);

  // Mean (v0 - v1)^2 per pixel, v1 the first sampled reconstruction, over every update since the last
  // reset_train_error(). May wait for queued work, so call it only where a number is shown.
  virtual double train_error() = 0;
  virtual void reset_train_error() = 0;

  // Reconstruction errors and free energy of [rows, nv] uint8 samples (host memory). Deterministic:
  // draws its uniforms from its own generator, restarted at every call, so it never disturbs training.
  virtual eval_result evaluate(const std::uint8_t* data, int rows) = 0;
  // The same on real values [rows, nv] (for Gaussian visible units the errors are in data units and the
  // sampled error reconstructs with the mean given sampled hidden states). Backends that cannot yet
  // throw precondition_error.
  virtual eval_result evaluate_values(const float* data, int rows);

  // Momentum, PCD chains and the generator's position: with the parameters, everything a resumed run
  // needs to continue exactly as if it had not stopped. May wait for queued work.
  virtual training_state state() const = 0;
  virtual void set_state(const training_state& st) = 0;
  // Learning rate and momentum of later updates (schedules).
  virtual void set_rates(float lr, float momentum) = 0;

  // log Z of the current parameters by annealed importance sampling (rbm/ais.hpp); both backends draw
  // the same uniforms, so they agree up to rounding.
  virtual ais_result ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) = 0;

 protected:
  const std::uint8_t* attached_ = nullptr;
  const float* attached_values_ = nullptr;
  int attached_rows_ = 0, attached_cols_ = 0;
  std::vector<std::uint8_t> gathered_;
  const std::uint8_t* attached_labels_ = nullptr;
  double class_loss_ = 0, class_rows_ = 0;
};

// W ~ N(0, 0.01^2), vb = log(p / (1 - p)) of the pixel means (clipped to [0.001, 0.999]), hb = 0
// (Hinton, "A practical guide to training RBMs", section 8); all zero when `zero` is set.
model_params init_params(int nv, int nh, const std::uint8_t* data, int rows, std::uint64_t seed, bool zero);
// The same from real values in [0, 1] (Bernoulli visible units on .npy data).
model_params init_params_from_values(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero);
// A Gaussian-Bernoulli model for real values data [rows, nv]: W as above (the same draws), vb the
// per-feature means, hb = 0, sigma = 1 (data standardised, Hinton's guide section 13.2); zero: W = 0.
model_params init_gaussian_params(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero);

}  // namespace rbm
