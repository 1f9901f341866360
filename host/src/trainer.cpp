// train(): a run composed from its parts (train_parts.hpp): options, data, the backend, the epochs,
// checkpoints and outputs.
#include "rbm/host/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <tuple>
#include <nlohmann/json.hpp>

#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/shuffle.hpp"

#include "train_parts.hpp"


namespace rbm {
using namespace detail;
namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void check_finite(const eval_result& r, int epoch, const char* which) {
  if (!std::isfinite(r.err_sampled) || !std::isfinite(r.err_mean_field) || !std::isfinite(r.free_energy))
    throw error("training diverged at epoch " + std::to_string(epoch) + ": the " + which +
                " metrics are not finite (is the learning rate too large?); the model of the last good epoch is kept");
}

// How many epochs in a row, up to the last one in `h`, the held-out minus training free-energy gap
// grew: computed from the history alone, so a resumed run counts exactly as an uninterrupted one.
int gap_growth(const std::vector<epoch_metrics>& h) {
  auto gap = [&](std::size_t i) { return h[i].test.free_energy - h[i].train.free_energy; };
  int n = 0;
  for (std::size_t i = h.size(); i >= 2 && gap(i - 1) > gap(i - 2); --i) ++n;
  return n;
}


constexpr std::uint64_t label_seed_salt = 0x94d049bb133111ebull;  // the label weights' initial draws

// Epochs since held-out accuracy last improved (0 when the newest epoch is the best so far).
int epochs_since_best_accuracy(const std::vector<epoch_metrics>& h) {
  int best = -1;
  for (int i = 0; i < int(h.size()); ++i)
    if (std::isfinite(h[i].test_accuracy) && (best < 0 || h[i].test_accuracy > h[best].test_accuracy)) best = i;
  return best < 0 ? 0 : int(h.size()) - 1 - best;
}


train_result train_run(const dataset& data_given, const train_options& opts_in);
}  // namespace

// A failed allocation after the up-front check (memory taken by others, an address-space limit) is
// host_out_of_memory naming what the run needs, like the check's own refusal, not a bare bad_alloc.
train_result train(const dataset& data, const train_options& o) {
  try {
    return train_run(data, o);
  } catch (const std::bad_alloc&) {
    const int nv = data.train.dim(), rows = std::max(1, o.batch);
    const double need = host_bytes_needed(nv, o.cd.nh, rows);
    throw host_out_of_memory("ran out of memory (an allocation failed) training a " + std::to_string(nv) + "x" +
                                 std::to_string(o.cd.nh) + " model with batch " + std::to_string(rows) + ": it needs at least " +
                                 std::to_string(std::llround(need)) + " bytes (" + std::to_string(std::llround(need / 1048576.0)) +
                                 " MiB) beside its data; this machine has " +
                                 std::to_string(std::llround(host_bytes_present() / 1048576.0)) + " MiB",
                             std::size_t(need));
  }
}

namespace {

// One run's state, from its options to its result; its steps below, composed by train_run. Pinned in
// place: `data` points at one of its own data sets.
struct run {
  train_options o;               // as the run trains (a resumed run's from its checkpoint)
  const dataset* given = nullptr;  // the caller's data (its test set is classified once after a validation split)
  bool resuming = false;
  checkpoint resumed;
  dataset split;                 // the validation split, where there is one
  const dataset* data_in = nullptr;  // split or given
  dataset prepared;              // binarised, real-valued or standardised, where training needs a copy
  const dataset* data = nullptr;  // what trains: prepared or data_in
  bool gauss = false, categorical = false, real = false, labeled = false, on_device = false, files = false;
  step_objective objective;  // the objective's terms (labels)
  int classes = 0, n = 0, nv = 0, eval_rows = 0;
  model_params start;
  standardization stats;
  std::unique_ptr<backend> be;
  attach_summary dev_set;        // a CUDA array: summarised, standardised and attached on the device
  train_sums epoch_sums;         // what the epoch's updates measured so far
  const float* train_rows = nullptr;  // the rows evaluated each epoch
  nlohmann::json config;
  std::vector<float> test_binary, base_vb, base_mean, base_sd;  // AIS during training (eval_every)
  train_result res;
  double seconds_before = 0;
  clock_type::time_point t0;
  long seen = 0;
  std::unique_ptr<run_files> files_kept;  // the output directory's files, where there is one
  std::unique_ptr<run_observer> callbacks;  // train_options' on_batch, on_epoch, on_epoch_params
  std::vector<run_observer*> observers;
  std::function<void(const std::string&)> note_fn = [this](const std::string& line) { note(line); };

  run() = default;
  run(const run&) = delete;
  run& operator=(const run&) = delete;
  void note(const std::string& line) const {
    if (o.on_note) o.on_note(line);
  }
  void warn(const std::string& line) const {
    if (o.on_warning) o.on_warning(line);
    else note(line);
  }
  run_view view() const { return {o, *be, *data, res.history, seen, note_fn}; }
  template <class F>
  void tell(F&& f) const {  // f(observer, view) for each observer, in order
    const run_view v = view();
    for (run_observer* ob : observers) f(*ob, v);
  }
};

// train_options' callbacks as an observer: every batch, and every trained epoch's metrics (with the
// parameters after it where on_epoch_params asks for them).
class callback_observer final : public run_observer {
 public:
  void batch_ended(const run_view& v, const batch_report& rep) override {
    if (v.o.on_batch) v.o.on_batch(rep);
  }
  void epoch_ended(const run_view& v, int epoch) override {
    if (epoch == 0) return;  // the starting point is no trained epoch
    if (v.o.on_epoch) v.o.on_epoch(v.history.back(), v.o.epochs);
    if (v.o.on_epoch_params) v.o.on_epoch_params(v.history.back(), v.be.params());
  }
};

// The options the run trains with: the caller's, or a resumed run's from its checkpoint (which must
// be of the same data and have epochs left); then the validation split.
void resolve_options(run& r, const dataset& given, const train_options& in) {
  r.given = &given;
  r.o = in;
  r.resuming = !in.resume.empty();
  if (r.resuming) {
    r.resumed = load_checkpoint(in.resume);
    try {
      r.o = options_from_checkpoint(r.resumed.config, in);
    } catch (const nlohmann::json::exception& e) {  // a value the options cannot hold (null, a string, ...)
      throw data_error(in.resume + ": the checkpoint's configuration cannot be read (" + e.what() + ")");
    }
    const int count = int(r.resumed.config.value("train_count", -1)) + int(r.resumed.config.value("validation", 0));
    if (r.resumed.dataset != given.name || count != given.train.count)
      throw data_error(in.resume + ": the checkpoint was trained on " + r.resumed.dataset + " (" +
                       std::to_string(count) + " images); pass the same data options (got " + given.name + ", " +
                       std::to_string(given.train.count) + " images)");
    // A run killed after its last checkpoint but before its pictures resumes to write them; asking for
    // fewer epochs than are done is a mistake.
    if (r.resumed.epoch > r.o.epochs || (r.resumed.epoch == r.o.epochs && r.resumed.batch > 0))
      throw precondition_error(in.resume + ": the checkpoint already has " + std::to_string(r.resumed.epoch) +
                               " epochs; ask for more epochs");
    r.start = r.resumed.params;
  }
  // A validation split: the last N training images become the held-out set of the whole run.
  r.split = validation_split(given, r.o.validation);
  r.data_in = r.o.validation > 0 ? &r.split : &given;
  r.gauss = r.o.cd.visible == unit_kind::gaussian;
  r.categorical = r.o.cd.visible == unit_kind::categorical;
  r.labeled = r.o.labels;
  r.on_device = r.data_in->train.device_values != nullptr;
}

// The unit options against each other and against the data they are to model.
void check_units_and_values(const run& r) {
  const train_options& o = r.o;
  const dataset& d = *r.data_in;
  if (r.gauss && o.binarize) throw precondition_error("binarize applies to Bernoulli visible units only");
  if (!r.gauss && o.standardize) throw precondition_error("standardize applies to Gaussian visible units only");
  if (!r.gauss && o.cd.learn_sigma) throw precondition_error("learn_sigma applies to Gaussian visible units only");
  if (o.cd.learn_sigma && !o.cd.visible_sample)
    throw precondition_error("learn_sigma needs sampled visible reconstructions (visible_sample): with their mean, "
                             "the negative phase lacks the noise, and sigma grows without bound");
  if (r.gauss && replicas_of(o.cd) > 1 && !o.cd.visible_sample)
    throw precondition_error("parallel tempering of Gaussian visible units needs sampled visible states "
                             "(visible_sample): a chain of means is not a sampler");
  if (r.gauss && !(o.cd.sigma_floor > 0))
    throw precondition_error("sigma_floor must be positive (got " + shown(o.cd.sigma_floor) + ")");
  if (r.on_device && (o.binarize || o.eval_every > 0))
    throw precondition_error("training rows in GPU memory are read as they are, on the CUDA backend: no binarize "
                             "or eval_every (AIS during training reads pixels)");
  if (r.on_device && d.test.count > 0 && (d.test.device_values != nullptr || !d.test.real()))
    throw precondition_error("with training rows in GPU memory, the held-out rows are real values in host memory");
  if (o.cd.hidden != unit_kind::bernoulli) {
    const std::string kind = std::string(to_string(o.cd.hidden)) + " hidden units";
    if (r.gauss)  // the joint energy is a quadratic form, bounded below only while W is small
      throw precondition_error(kind + " pair with Bernoulli or categorical visible units so far, not Gaussian ones");
    if (o.cd.sparsity_cost > 0)
      throw precondition_error(kind + ": the sparsity target is a Bernoulli unit's probability of being on");
  }
  if (r.categorical) {
    if (r.on_device || o.eval_every > 0)
      throw precondition_error("categorical visible units train from host rows, without AIS during training "
                               "(eval_every) so far");
    return;  // the states are checked as they are made one-hot
  }
  if (!r.gauss && d.train.real() && !o.any_values)
    for (const image_set* set : {&d.train, &d.test}) {
      if (set->device_values != nullptr) continue;  // summarised on the device later
      for (const float *x = set->value_data(), *end = x + std::size_t(set->count) * set->dim(); x != end; ++x)
        if (!(*x >= 0.0f && *x <= 1.0f))
          throw data_error(set->source + ": holds values outside [0, 1] (" + std::to_string(*x) +
                           "), which Bernoulli visible units cannot model; train Gaussian visible units instead");
    }
  if (!r.gauss && d.train.real() && (o.binarize || o.eval_every > 0))
    throw precondition_error("binarize and AIS during training (eval_every) read pixel data; real-valued data "
                             "for Bernoulli visible units support neither yet");
}

// The objective's terms, and with labels the number of classes (every label read and in range).
void check_objective_and_labels(run& r) {
  const train_options& o = r.o;
  if (o.objective != "generative" && o.objective != "discriminative" && o.objective != "hybrid")
    throw precondition_error("the objective must be generative, discriminative or hybrid (got '" + o.objective + "')");
  if (!r.labeled && o.objective != "generative")
    throw precondition_error("the " + o.objective + " objective needs labels (a label group to classify with)");
  if (r.labeled && o.objective == "hybrid" && !(o.alpha > 0))
    throw precondition_error("the hybrid objective needs a positive alpha (the generative term's weight; got " +
                             shown(o.alpha) + ")");
  if (r.labeled && o.cd.sum_weight_gradient)
    throw precondition_error("labels take the mean gradient (not the tutorial's summed one)");
  if (r.labeled && o.on_gradient)
    throw precondition_error("a gradient hook sees the CD step's gradient; a label group's update has none yet");
  r.objective.on_gradient = o.on_gradient;
  r.objective.discriminative = o.objective == "generative" ? 0.0f : 1.0f;
  r.objective.generative = o.objective == "discriminative" ? 0.0f : o.objective == "hybrid" ? o.alpha : 1.0f;
  if (!r.labeled) return;
  const dataset& d = *r.data_in;
  for (const image_set* set : {&d.train, &d.test}) {
    if (set->count == 0) continue;
    if (set->labels.size() != std::size_t(set->count))
      throw data_error(set->source + ": no labels were read for these " + std::to_string(set->count) +
                       " images (a label file beside them, e.g. train-labels-idx1-ubyte)");
  }
  const int top = *std::max_element(d.train.labels.begin(), d.train.labels.end());
  r.classes = o.classes > 0 ? o.classes : top + 1;
  const bool one_class = std::all_of(d.train.labels.begin(), d.train.labels.end(),
                                     [&](std::uint8_t y) { return y == d.train.labels.front(); });
  if (r.classes < 2 || one_class)
    throw data_error(d.train.source + ": the training labels hold a single class (" + std::to_string(top) +
                     "); a classifier needs at least two");
  for (const image_set* set : {&d.train, &d.test})
    for (std::uint8_t y : set->labels)
      if (y >= r.classes)
        throw data_error(set->source + ": label " + std::to_string(y) + " is outside [0, " + std::to_string(r.classes) +
                         ") (the classes given)");
}

// The rows as the model reads them (binarised, or real values), and the parameters a run continues
// from where it is told to: a model file, or parameters in memory.
void prepare_data_and_start(run& r) {
  train_options& o = r.o;
  if (o.binarize) r.prepared = binarized(*r.data_in);
  else if (r.gauss) r.prepared = real_valued(*r.data_in);
  if (r.categorical) {
    if (o.cd.states == 0) o.cd.states = states_in(*r.data_in);
    if (o.cd.states < 2 || o.cd.states > max_states)
      throw data_error(r.data_in->train.source + ": categorical visible units need 2 to " + std::to_string(max_states) +
                       " states per site (got " + std::to_string(o.cd.states) + ")");
    r.prepared = one_hot(*r.data_in, o.cd.states);
  }
  r.data = o.binarize || r.gauss || r.categorical ? &r.prepared : r.data_in;
  r.real = r.data->train.real();
  o.cd.nv = r.data->train.dim();
  if (!r.resuming && !o.init_from.empty()) {
    saved_model m = load_model(o.init_from);
    if (m.params.nv != o.cd.nv)
      throw data_error(o.init_from + ": the model has " + std::to_string(m.params.nv) + " visible units but the data has " +
                       std::to_string(o.cd.nv) + " pixels per image");
    if (m.params.visible != o.cd.visible)
      throw data_error(o.init_from + ": the model has " + to_string(m.params.visible) + " visible units, not " +
                       to_string(o.cd.visible));
    if (m.params.states != o.cd.states)
      throw data_error(o.init_from + ": the model's sites have " + std::to_string(m.params.states) + " states, the data's " +
                       std::to_string(o.cd.states));
    if (m.params.hidden != o.cd.hidden)
      throw data_error(o.init_from + ": the model has " + to_string(m.params.hidden) + " hidden units, not " +
                       to_string(o.cd.hidden));
    o.cd.nh = m.params.nh;
    r.start = std::move(m.params);
  }
  if (!r.resuming && o.start_params != nullptr) {  // in memory (a Python estimator's partial_fit)
    if (o.start_params->hidden != o.cd.hidden)
      throw precondition_error(std::string("start_params: the model has ") + to_string(o.start_params->hidden) +
                               " hidden units, not " + to_string(o.cd.hidden));
    if (o.start_params->nv != o.cd.nv || o.start_params->visible != o.cd.visible ||
        o.start_params->states != o.cd.states)
      throw precondition_error("start_params: a " + std::to_string(o.start_params->nv) + "-unit " +
                               to_string(o.start_params->visible) + " visible layer does not fit the data's " +
                               std::to_string(o.cd.nv) + " " + to_string(o.cd.visible) + " values");
    o.cd.nh = o.start_params->nh;
    r.start = *o.start_params;
  }
  if (o.start_state != nullptr && o.start_params == nullptr)
    throw precondition_error("start_state needs start_params (the state belongs to parameters)");
  if (r.resuming && r.start.nv != o.cd.nv)
    throw data_error(o.resume + ": the checkpoint does not fit the data's image size");
  validate(*r.data, o);
}

// The backend, and the data's standardisation where asked (on the device for rows in GPU memory,
// which are attached there and checked as they are summarised).
std::string open_backend(run& r) {
  const train_options& o = r.o;
  std::string why;
  r.be = make_backend(o.device, o.cd, o.batch, o.gpu, why, std::min(o.batch, r.data->train.count));
  if (r.gauss && o.standardize && !r.on_device) standardize_sets(r.prepared, *r.be, r.stats.mean, r.stats.sd);
  r.n = r.data->train.count;
  r.nv = o.cd.nv;
  r.eval_rows = o.eval_limit > 0 ? std::min(r.n, o.eval_limit) : r.n;
  if (!r.on_device) return why;
  const image_set& train = r.data->train;
  const std::uint8_t* labels = r.labeled ? train.labels.data() : nullptr;
  r.dev_set = r.be->attach(rows_view::in_gpu(train.device_values, r.n, r.nv, labels), {r.gauss && o.standardize, r.eval_rows});
  if (r.dev_set.nonfinite > 0)
    throw data_error(train.source + ": holds " + std::to_string(r.dev_set.nonfinite) + " NaN or infinite values");
  if (!r.gauss && !o.any_values && (r.dev_set.min < 0.0f || r.dev_set.max > 1.0f))
    throw data_error(train.source + ": holds values outside [0, 1] (" + std::to_string(r.dev_set.min) + " to " +
                     std::to_string(r.dev_set.max) + "), which Bernoulli visible units cannot model");
  if (r.gauss && o.standardize) {
    r.stats.mean = r.dev_set.mean;
    r.stats.sd = r.dev_set.sd;
    if (r.prepared.test.count > 0) r.prepared.test.values = model_inputs(r.prepared.test, false, r.stats.mean, r.stats.sd);
    r.prepared.test.borrowed = nullptr;
  }
  return why;
}

// The starting parameters (Hinton's initialisation where none were given; label weights of their own
// draws) and optimiser state, set on the backend.
void set_starting_point(run& r) {
  const train_options& o = r.o;
  const dataset& d = *r.data;
  const bool made = r.start.nv == 0;  // not resumed, loaded or given: the kinds below are the options'
  if (r.start.nv == 0 && r.on_device) {  // from the column means (of the standardised rows: 0)
    const std::vector<float> means = r.gauss && o.standardize ? std::vector<float>(r.nv, 0.0f) : r.dev_set.mean;
    r.start = r.gauss ? init_gaussian_params(r.nv, o.cd.nh, means.data(), 1, o.cd.seed, o.zero_init)
                      : init_params_from_values(r.nv, o.cd.nh, means.data(), 1, o.cd.seed, o.zero_init);
  }
  if (r.start.nv == 0 && r.categorical)
    r.start = init_categorical_params(r.nv, o.cd.nh, o.cd.states, d.train.value_data(), r.n, o.cd.seed, o.zero_init);
  if (r.start.nv == 0)
    r.start = r.gauss  ? init_gaussian_params(r.nv, o.cd.nh, d.train.value_data(), r.n, o.cd.seed, o.zero_init)
              : r.real ? init_params_from_values(r.nv, o.cd.nh, d.train.value_data(), r.n, o.cd.seed, o.zero_init)
                       : init_params(r.nv, o.cd.nh, d.train.pixels.data(), r.n, o.cd.seed, o.zero_init);
  if (made) r.start.hidden = o.cd.hidden;
  if (r.labeled && !r.start.labeled()) {  // label weights ~ N(0, 0.01^2) as W's (their own draws), biases 0
    r.start.add_labels(r.classes);
    if (!o.zero_init)
      cpu::philox_stream(o.cd.seed ^ label_seed_salt).normal(r.start.label_w.data(), r.start.label_w.size(), 0.0f, 0.01f);
  }
  if (r.labeled && r.start.classes != r.classes)
    throw data_error("the model has " + std::to_string(r.start.classes) + " classes but the data " +
                     std::to_string(r.classes));
  if (!r.labeled && r.start.labeled())
    throw precondition_error("the model has a label group: train it with labels (or start from a model without one)");
  r.be->set_params(r.start);
  if (!r.resuming && o.start_state != nullptr) r.be->set_state(*o.start_state);
  if (r.resuming) {
    r.be->set_state(r.resumed.state);
    r.note("resuming " + o.out_dir + " after epoch " + std::to_string(r.resumed.epoch) +
           (r.resumed.batch > 0 ? " and " + std::to_string(r.resumed.batch) + " batches of the next" : ""));
  }
}

// What each epoch's evaluation needs (AIS's base model and binary held-out rows where it runs), the
// history so far, and a resumed directory's leftovers cleared.
void prepare_monitoring(run& r) {
  const train_options& o = r.o;
  const dataset& d = *r.data;
  r.train_rows = r.on_device ? r.dev_set.head.data() : d.train.value_data();
  r.config = config_json(o, d, r.be->name());
  if (o.eval_every > 0 && r.gauss) {  // AIS from independent Gaussians fitted to the training data
    fit_independent_gaussians(d.train.value_data(), r.n, r.nv, r.base_mean, r.base_sd);
  } else if (o.eval_every > 0) {
    const image_set& held = d.test.count > 0 ? d.test : d.train;
    r.test_binary = binarize(held.pixels.data(), held.pixels.size());
    const auto train_binary = binarize(d.train.pixels.data(), d.train.pixels.size());
    r.base_vb = base_rate_bias(train_binary.data(), r.n, r.nv);
  }
  r.res.backend_name = r.be->name();
  r.res.history = r.resumed.history;
  r.seconds_before = r.res.history.empty() ? 0.0 : r.res.history.back().seconds;
  r.t0 = clock_type::now();
  r.seen = r.resuming ? r.resumed.samples_seen : 0;
}

// AIS's log Z and the held-out log-likelihood of the model now, into m.
void ais_during_training(const run& r, epoch_metrics& m) {
  ais_options a = r.o.ais;
  a.seed = r.o.cd.seed ^ 0xa15u;
  const model_params p = r.be->params();
  if (r.gauss) {  // on the CPU (the backend that trains Gaussian units), in the model's units
    m.ais_log_z = ais_log_z_gaussian(p, r.base_mean, r.base_sd, a).log_z;
    const image_set& held = r.data->test.count > 0 ? r.data->test : r.data->train;
    m.test_log_likelihood = mean_log_likelihood(p, held.value_data(), held.count, m.ais_log_z);
  } else {
    m.ais_log_z = r.be->ais_log_z(r.base_vb, a).log_z;
    const int rows = int(r.test_binary.size() / r.nv);
    m.test_log_likelihood = mean_log_likelihood(p, r.test_binary.data(), rows, m.ais_log_z);
  }
  r.note("epoch " + std::to_string(m.epoch) + ": AIS log Z " + std::to_string(m.ais_log_z) +
         ", held-out log-likelihood " + std::to_string(m.test_log_likelihood) + " nats");
}

// The metrics after `epoch` (0: the starting point), appended to the history and metrics.csv.
epoch_metrics evaluate_epoch(run& r, int epoch, double rate, double lr, double mom) {
  const dataset& d = *r.data;
  epoch_metrics m;
  m.epoch = epoch;
  m.samples_seen = r.seen;
  m.samples_per_s = rate;
  m.lr = lr;
  m.momentum = mom;
  m.train = r.be->evaluate(r.real ? rows_view::of(r.train_rows, r.eval_rows, r.nv)
                                  : rows_view::of(d.train.pixels.data(), r.eval_rows, r.nv));
  check_finite(m.train, epoch, "training");
  if (d.test.count > 0) {
    m.test = r.be->evaluate(r.real ? rows_view::of(d.test.value_data(), d.test.count, r.nv)
                                   : rows_view::of(d.test.pixels.data(), d.test.count, r.nv));
    check_finite(m.test, epoch, "held-out");
  }
  if (r.labeled) {
    const model_params p = r.be->params();
    std::tie(m.train_accuracy, m.train_class_ll) = classify_rows(p, d.train, r.real ? r.train_rows : nullptr, r.eval_rows);
    if (d.test.count > 0)
      std::tie(m.test_accuracy, m.test_class_ll) =
          classify_rows(p, d.test, r.real ? d.test.value_data() : nullptr, d.test.count);
  }
  if (r.o.eval_every > 0 && epoch > 0 && epoch % r.o.eval_every == 0) ais_during_training(r, m);
  m.seconds = r.seconds_before + since(r.t0);
  r.res.history.push_back(m);
  r.tell([](run_observer& ob, const run_view& v) { ob.evaluated(v); });
  return m;
}

// Whether the run should stop before the next epoch: held-out accuracy (labels) or the free-energy gap
// (else) has not improved for early_stop epochs.
bool early_stopped(const run& r) {
  if (r.o.early_stop <= 0 || r.data->test.count == 0) return false;
  return r.labeled ? epochs_since_best_accuracy(r.res.history) >= r.o.early_stop
                   : gap_growth(r.res.history) >= r.o.early_stop;
}

// The batches of epoch e from `first_batch` on, in `order`; returns the epoch's training rate. A stop
// request ends it after the current batch: a checkpoint (with files) and `interrupted`.
double train_batches(run& r, int e, const std::vector<int>& order, int first_batch) {
  const train_options& o = r.o;
  const int full = o.tutorial_batches ? (r.n - 1) / o.batch : r.n / o.batch;
  const int nbatches = o.tutorial_batches || r.n % o.batch == 0 ? full : full + 1;
  const auto te = clock_type::now();
  r.be->take_sums();  // an interrupted epoch's, or none
  r.epoch_sums = {};
  long epoch_samples = 0;
  for (int b = first_batch; b < nbatches; ++b) {
    const int first = b * o.batch, rows = std::min(o.batch, r.n - first);
    r.be->step(order.data() + first, rows, r.objective);
    r.seen += rows;
    epoch_samples += rows;
    if (o.stop != nullptr && o.stop->load() && b + 1 < nbatches) {
      const std::string where = "interrupted in epoch " + std::to_string(e) + " after batch " + std::to_string(b + 1) +
                                " of " + std::to_string(nbatches);
      r.tell([e, b](run_observer& ob, const run_view& v) { ob.stopped(v, e, b + 1); });
      if (!r.files) throw interrupted(where + "; the last update's parameters are kept", "", r.be->params(), r.be->state());
      throw interrupted(where + "; the checkpoint in " + o.out_dir + " is saved", o.out_dir, r.be->params(), r.be->state());
    }
    {
      batch_report rep;
      rep.epoch = e;
      rep.epochs = o.epochs;
      rep.batch = b + 1;
      rep.batches = nbatches;
      rep.samples_per_s = epoch_samples / std::max(since(te), 1e-9);
      rep.elapsed_s = since(r.t0);
      rep.error = [&r] {
        r.epoch_sums += r.be->take_sums();
        return r.labeled && r.objective.discriminative > 0 ? r.epoch_sums.mean_class_loss()
                                                           : r.epoch_sums.reconstruction_error();
      };
      r.tell([&rep](run_observer& ob, const run_view& v) { ob.batch_ended(v, rep); });
    }
  }
  r.epoch_sums += r.be->take_sums();  // waits for the epoch's last update, so the rate below counts all of it
  return double(epoch_samples) / std::max(since(te), 1e-9);
}

constexpr long min_updates_judged = 50;  // fewer updates in an epoch may simply not have moved the model yet

// A fresh CD run of Bernoulli visible units whose first epoch of at least min_updates_judged updates
// left the training rows' mean-field reconstruction error where it started, or above, has not learned
// (CD collapsed: at a rate too large for the batch the hidden units saturate and the free energy of the
// data jumps up: docs/labels.md); said once, naming the epoch. Training goes on: the metrics stay
// finite, so it is not a divergence. Not judged: objectives without a generative term (they do not
// reconstruct), PCD (its chains may raise the reconstruction error while the likelihood rises: seen in
// the Python suite's stacks), Gaussian visible units (a slow first epoch at a small rate looks the same)
// and continuous hidden units (the saturation is a Bernoulli unit's; a ReLU model that learned well
// still raised the error in its first epoch, tests/test_rbm.py's copying bits).
void note_if_not_learning(const run& r, const epoch_metrics& m) {
  const bool fresh = !r.resuming && r.o.init_from.empty() && r.o.start_params == nullptr;
  if (!fresh || r.gauss || r.o.cd.hidden != unit_kind::bernoulli || r.o.cd.pcd || m.epoch != 1 || r.objective.generative <= 0 || r.res.history.empty() || r.res.history.front().epoch != 0) return;
  const double before = r.res.history.front().train.err_mean_field, after = m.train.err_mean_field;
  const long updates = (m.samples_seen + r.o.batch - 1) / r.o.batch;
  if (!(after >= before) || updates < min_updates_judged) return;
  char line[320];
  std::snprintf(line, sizeof line,
                "epoch 1 did not lower the training reconstruction error (mean-field %.6f, %.6f before training): "
                "the model is not learning; a learning rate too large for this batch size collapses contrastive "
                "divergence (the rate is %g)",
                after, before, double(r.o.cd.lr));
  r.warn(line);
}

// Epoch e: its rates, batches, evaluation, checkpoint, callbacks and snapshot. Whether training stops
// here (early stopping); a stop request after the epoch throws `interrupted`.
bool train_epoch(run& r, int e, std::vector<int>& order) {
  const train_options& o = r.o;
  const double lr = lr_of(o, e), mom = momentum_of(o, e);
  r.be->set_rates(float(lr), float(mom));
  if (o.tutorial_batches) {
    for (int i = 0; i < r.n; ++i) order[i] = i;
  } else {
    epoch_permutation(o.cd.seed, e, order);
  }
  const int first_batch = r.resuming && e == r.resumed.epoch + 1 ? r.resumed.batch : 0;
  const double rate = train_batches(r, e, order, first_batch);
  const epoch_metrics m = evaluate_epoch(r, e, rate, lr, mom);
  note_if_not_learning(r, m);
  r.tell([e](run_observer& ob, const run_view& v) { ob.epoch_ended(v, e); });
  if (o.stop != nullptr && o.stop->load() && e < o.epochs)
    throw interrupted("interrupted after epoch " + std::to_string(e) +
                          (r.files ? "; the checkpoint in " + o.out_dir + " is saved" : "; its parameters are kept"),
                      o.out_dir, r.be->params(), r.be->state());
  if (!early_stopped(r)) return false;
  r.note(r.labeled ? "early stop after epoch " + std::to_string(e) + ": held-out accuracy has not improved for " +
                         std::to_string(epochs_since_best_accuracy(r.res.history)) + " epochs (now " +
                         std::to_string(m.test_accuracy) + ")"
                   : "early stop after epoch " + std::to_string(e) + ": the free-energy gap grew " +
                         std::to_string(gap_growth(r.res.history)) + " epochs in a row (now " +
                         std::to_string(m.test.free_energy - m.train.free_energy) + ")");
  return true;
}

// The training rows (and labels) attached to the backend.
void attach_rows(run& r) {
  const dataset& d = *r.data;
  const std::uint8_t* labels = r.labeled ? d.train.labels.data() : nullptr;
  if (r.on_device) return;  // attached when the backend opened
  r.be->attach(r.real ? rows_view::of(d.train.value_data(), r.n, r.nv, labels)
                      : rows_view::of(d.train.pixels.data(), r.n, r.nv, labels));
}

// The result: the final parameters and state, the test set classified once after a validation split,
// the pictures.
train_result finish(run& r) {
  train_result& res = r.res;
  res.params = r.be->params();
  res.state = r.be->state();
  const dataset& given = *r.given;
  if (r.o.validation > 0 && r.labeled && given.test.count > 0) {  // the test set, once, by the final model
    dataset held;
    held.test = given.test;
    if (r.categorical) held = one_hot(held, r.o.cd.states);  // integer states, read one-hot
    const std::vector<float> v = model_inputs(held.test, r.o.binarize, r.stats.mean, r.stats.sd);
    std::tie(res.test_accuracy, res.test_class_ll) = classify_rows(res.params, held.test, v.data(), given.test.count);
    res.test_count = given.test.count;
  }
  res.data_mean = r.stats.mean;
  res.data_sd = r.stats.sd;
  r.tell([&res](run_observer& ob, const run_view& v) { ob.finished(v, res.params); });
  return std::move(res);
}

train_result train_run(const dataset& data_given, const train_options& opts_in) {
  run r;
  resolve_options(r, data_given, opts_in);
  check_units_and_values(r);
  check_objective_and_labels(r);
  prepare_data_and_start(r);
  const std::string why = open_backend(r);
  r.files = !r.o.out_dir.empty();  // none: train in memory (the caller keeps the result)
  if (r.files) {
    r.files_kept = std::make_unique<run_files>(r.o.out_dir, r.config, r.stats);
    r.observers.push_back(r.files_kept.get());
  }
  r.callbacks = std::make_unique<callback_observer>();
  r.observers.push_back(r.callbacks.get());
  r.observers.insert(r.observers.end(), r.o.observers.begin(), r.o.observers.end());
  r.note(why);
  set_starting_point(r);
  prepare_monitoring(r);
  if (r.resuming) {
    r.tell([&r](run_observer& ob, const run_view& v) { ob.resumed(v, r.resumed.epoch, r.resumed.batch); });
  } else {
    evaluate_epoch(r, 0, 0.0, lr_of(r.o, 1), momentum_of(r.o, 1));
    r.tell([](run_observer& ob, const run_view& v) { ob.epoch_ended(v, 0); });
  }
  attach_rows(r);
  // A run that had stopped early (and was resumed only to finish its pictures) trains no further.
  const bool stopped_before = r.resuming && r.resumed.batch == 0 && early_stopped(r);
  std::vector<int> order(r.n);
  for (int e = r.resuming ? r.resumed.epoch + 1 : 1; e <= r.o.epochs && !stopped_before; ++e)
    if (train_epoch(r, e, order)) break;
  return finish(r);
}
}  // namespace

}  // namespace rbm
