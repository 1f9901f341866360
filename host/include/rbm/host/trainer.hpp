// The training loop: batches, progress, per-epoch evaluation and every file a run writes. It drives a
// backend through the interface in backend.hpp and never knows which one runs.
#pragma once

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/gpu_options.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/run_observer.hpp"

namespace rbm {

struct train_options {
  cd_config cd;
  int epochs = 10;
  int batch = 100;
  bool zero_init = false;        // the tutorial starts from all-zero parameters
  bool tutorial_batches = false; // file order, batches as the tutorial's zip(range(0,N,B), range(B,N,B))
  bool binarize = false;         // train on pixel >= 128 ? 1 : 0 instead of grey values (likelihood studies)
  bool standardize = false;      // Gaussian visible units: per-feature mean 0, standard deviation 1 (training set's)
  bool any_values = false;       // Bernoulli units on real values outside [0, 1] too (scikit-learn's BernoulliRBM
                                 // allows them); else such data are refused, naming the file
  // Labels (a classification RBM): a softmax group of `classes` units (0: the largest label + 1) beside
  // the visible units, trained on data.train.labels with `objective` "generative" (CD-k / PCD-k on the
  // joint of pixels and class), "discriminative" (the exact gradient of log p(y | x)) or "hybrid"
  // (discriminative + alpha x generative), on either backend. Per-epoch metrics gain the accuracy and
  // mean log p(y | x); early_stop then watches held-out accuracy.
  bool labels = false;
  int classes = 0;
  // Hold out the last `validation` training images (0: none) as the validation set: every held-out
  // figure during training (the test_* metrics, early stopping) is then on it, never on data.test;
  // data.test is classified once, by the final model (train_result::test_accuracy, labels only).
  int validation = 0;
  std::string objective = "generative";
  float alpha = 0.01f;
  std::string device = "auto";   // auto | cpu | cuda
  gpu_options gpu;               // GEMM mode, data residency, graphs (CUDA backend only)
  std::string out_dir;           // where the files go (created); empty: train in memory, write nothing
  std::string init_from;         // continue from this model.safetensors
  // Or continue from parameters in memory (the CLI's init_from without a file), and with them the
  // optimiser's momentum, the PCD chains and the generator's position (a Python estimator's
  // partial_fit); both left alone by train(), which copies them.
  const model_params* start_params = nullptr;
  const training_state* start_state = nullptr;
  std::string preset;            // recorded in the metadata
  int eval_limit = 10000;        // training samples evaluated per epoch (the held-out set is used whole)

  // Schedules and monitoring.
  float initial_momentum = -1;   // momentum of the first `momentum_epochs` epochs; < 0: no schedule
  int momentum_epochs = 0;
  float lr_decay = 1.0f;         // learning rate of epoch e is lr * lr_decay^(e - 1)
  int early_stop = 0;            // stop once the free-energy gap has grown this many epochs in a row (0: never);
                                 // with labels: once held-out accuracy has not improved for this many epochs
  int snapshot_every = 0;        // filters-epoch-NNN.png every N epochs (0: never)
  int eval_every = 0;            // AIS log-likelihood of the held-out set every N epochs (0: never)
  ais_options ais{100, 3000, 1}; // AIS during training (seed replaced by the run's)
  std::string resume;            // the out_dir of an interrupted run: continue it exactly
  // Set (e.g. by a SIGINT/SIGTERM handler) to stop after the current batch: a checkpoint is written
  // and train() throws `interrupted`.
  const std::atomic<bool>* stop = nullptr;

  // What the caller hears while training runs (each optional; the library itself prints nothing): a
  // line of information (the backend chosen and why, resuming, AIS results, an early stop), every
  // batch, and every epoch's metrics once evaluated (with the total epochs).
  std::function<void(const std::string&)> on_note;
  // What the caller should act on though training goes on (a run that is not learning); where it is
  // not set, such a line goes to on_note.
  std::function<void(const std::string&)> on_warning;
  std::function<void(const batch_report&)> on_batch;
  std::function<void(const epoch_metrics&, int)> on_epoch;
  // Every trained epoch's metrics with the parameters after it (a copy from the device on the GPU,
  // so set it only where they are used: scikit-learn's verbose pseudo-likelihood per iteration).
  std::function<void(const epoch_metrics&, const model_params&)> on_epoch_params;
  // Sees (and may change) each update's gradient before the update applies it (rbm/host/backend.hpp's
  // gradient_view): where a data-parallel driver averages it across workers. The CPU backend's CD and
  // PCD steps only: a run with one trains on the CPU ("auto"; "cuda" refuses), a label group refuses it.
  gradient_hook on_gradient;
  // Observers the caller installs (not owned; each must outlive the call), told after the run's own
  // (its files, the callbacks above), in this order (rbm/host/run_observer.hpp).
  std::vector<run_observer*> observers;
};

// Training stopped on request. With an out_dir, a checkpoint of the last finished batch is in place in
// `directory()`, from which train() with `resume` set to it continues exactly; either way the
// parameters and state of that last update come with the exception.
class interrupted : public error {
 public:
  interrupted(const std::string& what, std::string directory, model_params params = {}, training_state state = {})
      : error(what), directory_(std::move(directory)), params_(std::move(params)), state_(std::move(state)) {}
  const std::string& directory() const noexcept { return directory_; }
  const model_params& params() const noexcept { return params_; }
  const training_state& state() const noexcept { return state_; }

 private:
  std::string directory_;
  model_params params_;
  training_state state_;
};

// The tutorial's run (`--preset seed`): 784x50, zero init, CD-1, batch 100 in file order (the
// tutorial's batching), 5 epochs, W += 0.01 x the summed gradient, hidden bias from sampled states,
// no momentum or decay, error over the whole training set.
train_options seed_preset();

// What a single RBM with a label group trains with where its caller chose none of these (the CLI's
// `--labels` alone): the hybrid objective at alpha 0.01, batches of 20, rate 0.3 decaying by 0.8 an
// epoch. Chosen on validation splits of the digits and Fashion-MNIST (docs/labels.md): the unlabelled
// defaults (generative, batches of 100) classify Fashion-MNIST below logistic regression on its pixels,
// and without the decay the last epoch's accuracy is a draw from a +-2 point spread. The rate, batch and
// decay are the discriminative term's: the generative objective alone keeps the general defaults (at
// rate 0.3 in batches of 20 its CD on the joint collapses in the first epoch: 80 % error on the digits,
// measured by bench/literature.sh), so apply_to says where they hold.
// Adam's rate where the caller chose none (measured in docs/training.md).
struct adam_defaults {
  static constexpr float lr = 0.001f;
};

struct classifier_defaults {
  static bool apply_to(const std::string& objective) { return objective != "generative"; }
  static constexpr const char* objective = "hybrid";
  static constexpr float alpha = 0.01f;
  static constexpr int batch = 20;
  static constexpr float lr = 0.3f;
  static constexpr float lr_decay = 0.8f;
};

struct train_result {
  std::vector<epoch_metrics> history;
  model_params params;
  training_state state;          // momentum, PCD chains, generator position: what start_state continues
  std::vector<float> data_mean, data_sd;  // what `standardize` subtracted and divided by (empty without it)
  std::string backend_name;
  // With a validation split and labels: the final model on data.test (NaN where there is none).
  double test_accuracy = std::nan(""), test_class_ll = std::nan("");
  int test_count = 0;
};

// Whether this build has the CUDA backend (CMake RBM_CUDA; query_devices() then says why there is none).
bool cuda_backend_built();

// Whether `device` ("auto", "cpu", "cuda") means a GPU here: "cuda" with a usable one (else throws
// rbm::error saying why not), "auto" where this build has the CUDA backend and a GPU is usable.
// precondition_error for any other name.
bool gpu_chosen(const std::string& device);

// Picks and creates the backend for `device` ("auto", "cpu", "cuda") for batches up to `max_batch`;
// `why` receives one line saying which backend was chosen and why. Throws rbm::error when "cuda" is
// forced and cannot be used (no usable GPU, with the driver's reason; out_of_memory naming the bytes
// when the model does not fit on the GPU), host_out_of_memory when the CPU backend's model and batches
// of `cpu_rows` rows (0: max_batch) cannot fit in the machine's memory.
std::unique_ptr<backend> make_backend(const std::string& device, const cd_config& cfg, int max_batch,
                                      const gpu_options& gpu, std::string& why, int cpu_rows = 0);

// Validates everything first (sizes, data shape, output directory), so a bad option or file fails
// before any output is written; then trains and writes model.safetensors, metrics.csv, filters.png
// and the plots into opts.out_dir, or, when it is empty, writes nothing at all and only returns the
// result (the entry point a binding calls). Throws rbm::error (data_error for files) with one clear line.
// With opts.resume set, the configuration, parameters, momentum, chains, RNG position and history
// come from that directory's checkpoint; only epochs, device, quiet and the GPU options are taken
// from opts, and the run continues in that directory. Errors name the options' parameters (batch,
// lr, ...), never a command-line flag.
train_result train(const dataset& data, const train_options& opts);

// The CSV text of metrics.csv for a history.
std::string metrics_csv(const std::vector<epoch_metrics>& history);

// The rows of `s` [count, dim] as a model trained on them reads them: pixels / 255 (thresholded at
// 128 first with `binarize`) or the real values, standardised with mean / sd where they are given.
std::vector<float> model_inputs(const image_set& s, bool binarize, const std::vector<float>& mean,
                                const std::vector<float>& sd);

// train_options::validation's split of d: its training set without the last n images, and those as
// the held-out set (n == 0: an empty dataset). Throws precondition_error for n < 0, n >= the training
// count, or training rows in GPU memory.
dataset validation_split(const dataset& d, int n);

// Accuracy of argmax p(y | x) and the mean log p(y | x) of the first `rows` rows of a labelled set: the
// rows as the model reads them (`values`, or when null the set's pixels / 255), in chunks.
std::pair<double, double> classify_rows(const model_params& p, const image_set& set, const float* values, int rows);

// The options as a checkpoint records them (JSON text) and back: options_from_json takes what a resumed
// run may change (device, epochs when positive, quiet, callbacks, ...) from `keep`.
std::string options_json(const train_options& o);
train_options options_from_json(const std::string& json, const train_options& keep);

}  // namespace rbm
