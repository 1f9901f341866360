// rbm._core: the C++ training entry point (rbm::train, in memory) for Python. No second training
// loop: the estimators in rbm/ validate their input, call train() here and keep what it returns.
// The GIL is released while training runs; each batch the callback takes it back briefly to check
// for Ctrl-C (PyErr_CheckSignals) and to report progress.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#if RBM_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "rbm/device_arrays.hpp"
#include "rbm/resources.hpp"
#endif
#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/fine_tune.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/state_tensors.hpp"
#include "rbm/host/tools.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/version.hpp"

namespace py = pybind11;

extern "C" {  // OpenBLAS's thread controls (its cblas.h; rbm::host links OpenBLAS)
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
}

namespace {

using farray = py::array_t<float, py::array::c_style | py::array::forcecast>;

farray to_array(const std::vector<float>& v, std::vector<py::ssize_t> shape) {
  farray a(shape);
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

std::vector<float> from_array(const py::handle& h) {
  const farray a = py::cast<farray>(h);
  return std::vector<float>(a.data(), a.data() + a.size());
}

template <class T>
T get(const py::dict& d, const char* key, T fallback) {
  return d.contains(key) ? py::cast<T>(d[key]) : fallback;
}

// The optimizer called `name` (rbm::optimizer_names); ValueError naming `what` otherwise.
rbm::optimizer optimizer_named(const std::string& name, const char* what = "optimizer") {
  rbm::optimizer rule = rbm::optimizer::sgd;
  if (!rbm::parse_optimizer(name, rule))
    throw py::value_error(std::string(what) + " must be 'sgd' or 'adam', got '" + name + "'");
  return rule;
}

// The optimizer named by d[key], `fallback` where absent.
rbm::optimizer optimizer_of(const py::dict& d, const char* key, rbm::optimizer fallback) {
  return optimizer_named(get(d, key, std::string(rbm::to_string(fallback))), key);
}

// The hidden unit kind called `name`; ValueError naming the kinds otherwise.
rbm::unit_kind hidden_kind_named(const std::string& name) {
  rbm::unit_kind k = rbm::unit_kind::bernoulli;
  if (!rbm::parse_unit_kind(name, k, rbm::layer_side::hidden))
    throw py::value_error("hidden must be " + rbm::unit_kind_list(rbm::layer_side::hidden) + ", got '" + name + "'");
  return k;
}

// The hidden unit kind named by d[key] (bernoulli where absent).
rbm::unit_kind hidden_kind_of(const py::dict& d, const char* key) {
  return hidden_kind_named(get(d, key, std::string(rbm::to_string(rbm::unit_kind::bernoulli))));
}

py::dict params_dict(const rbm::model_params& p) {
  py::dict d;
  d["W"] = to_array(p.w, {p.nv, p.nh});
  d["vb"] = to_array(p.vb, {p.nv});
  d["hb"] = to_array(p.hb, {p.nh});
  if (p.gaussian()) d["sigma"] = to_array(p.sigma, {p.nv});
  if (p.categorical()) d["states"] = p.states;  // W [sites * states, nh], the state fastest
  if (p.hidden != rbm::unit_kind::bernoulli) d["hidden"] = rbm::to_string(p.hidden);
  if (p.labeled()) {
    d["label_W"] = to_array(p.label_w, {p.classes, p.nh});
    d["label_b"] = to_array(p.label_b, {p.classes});
  }
  return d;
}

rbm::model_params params_from(const py::dict& p) {
  const farray w = py::cast<farray>(p["W"]);
  if (w.ndim() != 2) throw py::value_error("W must be [n_features, n_components]");
  const bool gauss = p.contains("sigma");
  rbm::model_params m(int(w.shape(0)), int(w.shape(1)), gauss ? rbm::unit_kind::gaussian : rbm::unit_kind::bernoulli);
  m.w = from_array(p["W"]);
  m.vb = from_array(p["vb"]);
  m.hb = from_array(p["hb"]);
  if (gauss) m.sigma = from_array(p["sigma"]);
  if (p.contains("states")) {  // categorical visible units
    m.visible = rbm::unit_kind::categorical;
    m.states = py::cast<int>(p["states"]);
    if (gauss || m.states < 2 || m.nv % m.states != 0)
      throw py::value_error("states must be at least 2 and divide W's rows (categorical visible units)");
  }
  m.hidden = hidden_kind_of(p, "hidden");
  if (p.contains("label_W")) {
    const farray lw = py::cast<farray>(p["label_W"]);
    if (lw.ndim() != 2 || lw.shape(1) != m.nh) throw py::value_error("label_W must be [classes, n_components]");
    m.add_labels(int(lw.shape(0)));
    m.label_w = from_array(p["label_W"]);
    m.label_b = from_array(p["label_b"]);
    if (m.label_b.size() != std::size_t(m.classes)) throw py::value_error("label_b does not fit label_W's shape");
  }
  if (m.vb.size() != std::size_t(m.nv) || m.hb.size() != std::size_t(m.nh) ||
      (gauss && m.sigma.size() != std::size_t(m.nv)))
    throw py::value_error("the biases do not fit W's shape");
  return m;
}

py::dict state_dict(const rbm::training_state& s, const rbm::model_params& p) {
  py::dict d;
  for (const rbm::state_tensor& t : rbm::state_tensors) {
    if (!t.required && (s.*t.member).empty()) continue;
    const std::vector<std::int64_t> shape = rbm::state_tensor_shape(t, p);
    d[t.name] = to_array(s.*t.member, std::vector<py::ssize_t>(shape.begin(), shape.end()));
  }
  d["chain_h"] = to_array(s.chain_h, {py::ssize_t(s.chain_h.size() / std::size_t(p.nh)), p.nh});
  if (!s.tempered_v.empty()) {  // parallel tempering's chains, [chains x replicas, .]
    const auto rows = py::ssize_t(s.tempered_h.size() / std::size_t(p.nh));
    d["tempered_v"] = to_array(s.tempered_v, {rows, p.nv});
    d["tempered_h"] = to_array(s.tempered_h, {rows, p.nh});
  }
  d["chains"] = s.chains;
  d["rng_position"] = s.rng_position;
  d["updates"] = s.updates;
  return d;
}

py::dict metrics_dict(const rbm::epoch_metrics& m) {
  py::dict d;
  d["epoch"] = m.epoch;
  d["seconds"] = m.seconds;
  d["samples_per_s"] = m.samples_per_s;
  d["train_error"] = m.train.err_sampled;
  d["train_error_mean_field"] = m.train.err_mean_field;
  d["train_free_energy"] = m.train.free_energy;
  d["train_accuracy"] = m.train_accuracy;
  d["train_log_p_y_given_x"] = m.train_class_ll;
  return d;
}

// A CUDA array (rbm._device.device_matrix: pointer, shape, typestr, strides in bytes, producer's
// stream) as the float32 rows training reads: the array itself where it already is C-ordered float32,
// else a float32 copy made on its device. Never through host memory.
struct device_rows {
  const float* rows = nullptr;
  int n = 0, d = 0, device = 0;
#if RBM_HAVE_CUDA
  rbm::device_buffer<float> owned;
#endif
};

#if RBM_HAVE_CUDA
rbm::element_type element_of(const std::string& typestr) {
  static const std::map<std::string, rbm::element_type> types = {
      {"<f4", rbm::element_type::f32}, {"<f8", rbm::element_type::f64}, {"<f2", rbm::element_type::f16},
      {"|i1", rbm::element_type::i8},  {"<i2", rbm::element_type::i16}, {"<i4", rbm::element_type::i32},
      {"<i8", rbm::element_type::i64}, {"|u1", rbm::element_type::u8},  {"<u2", rbm::element_type::u16},
      {"<u4", rbm::element_type::u32}, {"<u8", rbm::element_type::u64}, {"|b1", rbm::element_type::b8}};
  const auto it = types.find(typestr);
  if (it == types.end()) throw py::value_error("a CUDA array of type " + typestr + " cannot be read as numbers");
  return it->second;
}
#endif

void require_usable_gpu() {
  if (!rbm::cuda_backend_built())
    throw py::value_error("X is a CUDA array, but this rbm was built without CUDA: pass a NumPy array");
  const rbm::device_report rep = rbm::query_devices();
  if (rep.devices.empty()) throw py::value_error("X is a CUDA array, but no GPU is usable here (" + rep.reason + ")");
}

// Whether the array's elements are C-ordered (row stride = cols x item, column stride = item).
bool c_ordered(const py::object& m) {
  const auto shape = py::cast<std::vector<long long>>(m.attr("shape"));
  const auto strides = py::cast<std::vector<long long>>(m.attr("strides"));
  const long long item = py::dtype(py::cast<std::string>(m.attr("typestr"))).itemsize();
  return shape.size() == 2 && strides.size() == 2 && strides[1] == item && (strides[0] == shape[1] * item || shape[0] == 1);
}

#if RBM_HAVE_CUDA
// Waits (the host) for the producer's work on a CUDA array before it is read: on the stream the array
// names (rbm._device.device_matrix.stream: 1 CUDA's legacy default stream, 2 the per-thread default
// one, else a stream handle), else, the stream unknown (PyTorch's __cuda_array_interface__ v2 names
// none), on the whole device. Every path that reads a CUDA array calls this first. Called without the
// GIL, on the array's device.
void wait_for_producer(bool named, std::uintptr_t stream) {
  if (!named) {
    RBM_CUDA_CHECK(cudaDeviceSynchronize());
    return;
  }
  CUstream_st* s = stream == 1   ? cudaStreamLegacy
                   : stream == 2 ? cudaStreamPerThread
                                 : reinterpret_cast<CUstream_st*>(stream);
  RBM_CUDA_CHECK(cudaStreamSynchronize(s));
}

struct producer_stream {
  bool named = false;
  std::uintptr_t handle = 0;
};

producer_stream stream_of(const py::object& m) {
  const py::object stream = m.attr("stream");
  if (stream.is_none()) return {};
  return {true, py::cast<std::uintptr_t>(stream)};
}
#endif

device_rows import_device_rows(const py::object& m) {
  require_usable_gpu();
#if RBM_HAVE_CUDA
  const auto shape = py::cast<std::vector<long long>>(m.attr("shape"));
  const auto strides = py::cast<std::vector<long long>>(m.attr("strides"));
  const auto typestr = py::cast<std::string>(m.attr("typestr"));
  const auto ptr = py::cast<std::uintptr_t>(m.attr("device_pointer"));
  const rbm::element_type t = element_of(typestr);
  const long long item = std::stoll(typestr.substr(2));
  if (shape.size() != 2 || strides.size() != 2) throw py::value_error("X must be a 2-D array [samples, features]");
  if (shape[0] > INT32_MAX || shape[1] > INT32_MAX) throw py::value_error("X has more rows or features than 2^31");
  for (long long st : strides)
    if (st < 0 || st % item != 0) throw py::value_error("a CUDA array with negative or misaligned strides: pass a copy");
  device_rows r;
  r.n = int(shape[0]);
  r.d = int(shape[1]);
  r.device = rbm::device_of(reinterpret_cast<const void*>(ptr));
  if (r.device < 0) throw py::value_error("X's CUDA array interface points outside GPU memory");
  const producer_stream producer = stream_of(m);
  const bool in_place = t == rbm::element_type::f32 && c_ordered(m);
  RBM_CUDA_CHECK(cudaSetDevice(r.device));
  {
    py::gil_scoped_release release;  // no Python objects from here to the end of the block
    wait_for_producer(producer.named, producer.handle);
    if (in_place) {
      r.rows = reinterpret_cast<const float*>(ptr);  // read in place
    } else {
      rbm::cuda_stream s;
      r.owned = rbm::device_buffer<float>(std::size_t(r.n) * r.d, rbm::stream_view{});
      rbm::stream_view{}.synchronize();  // allocated before the import stream writes it
      rbm::import_matrix(reinterpret_cast<const void*>(ptr), t, r.n, r.d, strides[0] / item, strides[1] / item,
                         r.owned.data(), s.view());
      s.view().synchronize();
      r.rows = r.owned.data();
    }
  }
  return r;
#else
  (void)m;
  throw py::value_error("X is a CUDA array, but this rbm was built without CUDA");
#endif
}

// train(X, config, start, on_epoch) -> dict(params, state, history, backend, interrupted, data_mean, data_sd)
//   X: float32 [n, d], C order, read in place (the estimators convert other layouts and dtypes once)
//   config: nh, lr, batch, epochs, k, pcd, tempering, momentum, weight_decay, seed, device, visible ("bernoulli" |
//           "gaussian"), visible_sample, learn_sigma, sigma_floor, standardize, eval_limit,
//           hidden_bias_from_states, any_values (Bernoulli units on values outside [0, 1], as
//           scikit-learn's BernoulliRBM allows), threads (CPU threads; 0: OpenBLAS's own count)
//   start: None, or dict(params=..., state=... or None) to continue from
//   on_epoch: None or a callable(dict of the epoch's metrics, dict of the parameters after it)
// The rows training reads: a CUDA array where it is, or a C-ordered float32 array borrowed as it is.
struct input_rows {
  rbm::dataset data;
  device_rows on_gpu;
  std::uintptr_t address = 0;  // what was read: the tests check that nothing was copied
};

void read_rows(const py::object& x_in, input_rows& in) {
  rbm::dataset& data = in.data;
  data.name = "array";
  data.train.rows = 1;
  data.train.source = "X";
  if (py::hasattr(x_in, "device_pointer")) {  // a CUDA array: trained where it is
    in.on_gpu = import_device_rows(x_in);
    data.train.count = in.on_gpu.n;
    data.train.cols = in.on_gpu.d;
    data.train.device_values = in.on_gpu.rows;
    in.address = reinterpret_cast<std::uintptr_t>(in.on_gpu.rows);
  } else {
    // No forcecast: a float32 C-order array is borrowed as it is, anything else is refused (the
    // estimators convert), so a silent copy cannot creep in.
    if (!py::isinstance<py::array_t<float>>(x_in) || !(py::reinterpret_borrow<py::array>(x_in).flags() & py::array::c_style))
      throw py::value_error("X must be a C-contiguous float32 array");
    const auto x = py::reinterpret_borrow<py::array_t<float>>(x_in);
    if (x.ndim() != 2) throw py::value_error("X must be a 2-D array [samples, features]");
    data.train.count = int(x.shape(0));
    data.train.cols = int(x.shape(1));
    data.train.borrowed = x.data();  // alive for the call: `x_in` is held by the caller's frame
    in.address = reinterpret_cast<std::uintptr_t>(x.data());
  }
}

// The training options a config dict gives (the estimators' parameters), rbm's defaults where it is silent.
rbm::train_options options_from(const py::dict& cfg) {
  rbm::train_options o;
  o.cd.nh = get(cfg, "nh", 256);
  o.cd.lr = get(cfg, "lr", 0.1f);
  o.lr_decay = get(cfg, "lr_decay", o.lr_decay);
  o.cd.k = get(cfg, "k", 1);
  o.cd.pcd = get(cfg, "pcd", true);
  o.cd.tempering = get(cfg, "tempering", 0);
  if (o.cd.tempering > 1) o.cd.pcd = false;  // the tempered chains persist on their own
  o.cd.momentum = get(cfg, "momentum", 0.0f);
  o.cd.weight_decay = get(cfg, "weight_decay", 0.0f);
  o.cd.update_rule = optimizer_of(cfg, "optimizer", rbm::optimizer::sgd);
  o.cd.seed = get<std::uint64_t>(cfg, "seed", 1);
  o.cd.hidden_bias_from_states = get(cfg, "hidden_bias_from_states", false);
  const std::string visible = get<std::string>(cfg, "visible", rbm::to_string(rbm::unit_kind::bernoulli));
  if (!rbm::parse_unit_kind(visible, o.cd.visible))
    throw py::value_error("visible must be " + rbm::unit_kind_list() + ", got '" + visible + "'");
  o.cd.states = get(cfg, "states", 0);
  o.cd.hidden = hidden_kind_of(cfg, "hidden");
  o.cd.visible_sample = get(cfg, "visible_sample", false);
  o.cd.learn_sigma = get(cfg, "learn_sigma", false);
  if (o.cd.learn_sigma) o.cd.visible_sample = true;
  o.cd.sigma_floor = get(cfg, "sigma_floor", 0.05f);
  o.standardize = get(cfg, "standardize", false);
  o.any_values = get(cfg, "any_values", false);
  o.batch = get(cfg, "batch", 10);
  o.epochs = get(cfg, "epochs", 10);
  o.eval_limit = get(cfg, "eval_limit", 1000);
  o.device = get<std::string>(cfg, "device", "auto");
  o.initial_momentum = -1;
  return o;
}

// Class indices y [n] in [0, classes): a label group beside the rows.
void add_labels(const py::object& y, const py::dict& cfg, rbm::dataset& data, rbm::train_options& o) {
  const auto labels = py::cast<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>>(y);
  if (labels.ndim() != 1 || labels.shape(0) != data.train.count)
    throw py::value_error("y must hold one class index per row of X");
  o.classes = get(cfg, "classes", 0);
  if (o.classes < 2 || o.classes > 256) throw py::value_error("classes must be between 2 and 256");
  data.train.labels.resize(std::size_t(data.train.count));
  for (py::ssize_t i = 0; i < labels.shape(0); ++i) {
    const std::int64_t v = labels.at(i);
    if (v < 0 || v >= o.classes) throw py::value_error("a class index outside [0, classes)");
    data.train.labels[std::size_t(i)] = std::uint8_t(v);
  }
  o.labels = true;
  o.objective = get<std::string>(cfg, "objective", "discriminative");
  o.alpha = get(cfg, "alpha", o.alpha);
}

// A partial_fit's starting point: parameters and, where given, the optimiser state and chains.
void start_from(const py::object& start, rbm::model_params& start_params, rbm::training_state& start_state,
                rbm::train_options& o) {
  const py::dict s = py::cast<py::dict>(start);
  start_params = params_from(py::cast<py::dict>(s["params"]));
  o.start_params = &start_params;
  if (s.contains("state") && !s["state"].is_none()) {
    const py::dict st = py::cast<py::dict>(s["state"]);
    for (const rbm::state_tensor& t : rbm::state_tensors)
      if (t.required || st.contains(t.name)) start_state.*t.member = from_array(st[t.name]);
    start_state.chain_h = from_array(st["chain_h"]);
    if (st.contains("tempered_v")) {
      start_state.tempered_v = from_array(st["tempered_v"]);
      start_state.tempered_h = from_array(st["tempered_h"]);
    }
    start_state.chains = py::cast<int>(st["chains"]);
    start_state.rng_position = py::cast<std::uint64_t>(st["rng_position"]);
    if (st.contains("updates")) start_state.updates = py::cast<std::uint64_t>(st["updates"]);
    o.start_state = &start_state;
  }
}

py::dict train(const py::object& x_in, const py::dict& cfg, const py::object& start, const py::object& on_epoch,
               const py::object& y) {
  input_rows in;
  read_rows(x_in, in);
  rbm::dataset& data = in.data;
  rbm::train_options o = options_from(cfg);
  if (!y.is_none()) add_labels(y, cfg, data, o);
  if (data.train.device_values != nullptr) o.gpu.device = in.on_gpu.device;  // train on the array's GPU
  rbm::model_params start_params;
  rbm::training_state start_state;
  if (!start.is_none()) start_from(start, start_params, start_state, o);

  std::vector<std::string> warnings;  // raised as Python warnings by the estimator, after the fit
  o.on_warning = [&warnings](const std::string& line) { warnings.push_back(line); };
  std::atomic<bool> stop{false};
  bool keyboard = false;
  o.stop = &stop;
  o.on_batch = [&](const rbm::batch_report&) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {  // Ctrl-C: stop after this update, raise KeyboardInterrupt after
      PyErr_Clear();
      keyboard = true;
      stop.store(true);
    }
  };
  std::exception_ptr callback_error;  // a Python exception in the callback stops training, then re-raised
  if (!on_epoch.is_none())
    o.on_epoch_params = [&](const rbm::epoch_metrics& m, const rbm::model_params& p) {
      py::gil_scoped_acquire gil;
      try {
        on_epoch(metrics_dict(m), params_dict(p));
      } catch (py::error_already_set&) {
        callback_error = std::current_exception();
        stop.store(true);
      }
    };

  rbm::train_result r;
  bool interrupted = false;
  const int threads = get(cfg, "threads", 0), threads_before = openblas_get_num_threads();
  if (threads < 0) throw py::value_error("threads must be positive (or 0: OpenBLAS's own count)");
  struct restore_threads {  // the count is process-wide: put it back after this fit
    int before;
    bool set;
    ~restore_threads() {
      if (set) openblas_set_num_threads(before);
    }
  } restore{threads_before, threads > 0};
  if (threads > 0) openblas_set_num_threads(threads);  // the CPU backend runs as many as OpenBLAS
  {
    py::gil_scoped_release release;
    try {
      r = rbm::train(data, o);
    } catch (const rbm::interrupted& e) {
      interrupted = true;
      r.params = e.params();
      r.state = e.state();
    }
  }
  py::dict out;
  out["params"] = params_dict(r.params);
  out["state"] = state_dict(r.state, r.params);
  py::list history;
  for (const auto& m : r.history) history.append(metrics_dict(m));
  out["history"] = history;
  out["backend"] = r.backend_name;
  out["interrupted"] = interrupted;
  out["keyboard_interrupt"] = keyboard;
  out["data_mean"] = to_array(r.data_mean, {py::ssize_t(r.data_mean.size())});
  out["data_sd"] = to_array(r.data_sd, {py::ssize_t(r.data_sd.size())});
  out["warnings"] = warnings;
  out["data_address"] = in.address;  // what was read: the tests check that nothing was copied
  if (callback_error) std::rethrow_exception(callback_error);
  return out;
}

// Rows for fine-tuning: X [rows, nv] with labels y (int) or targets t [rows, outputs]; None: no rows.
struct tune_rows {
  bool given = false, has_y = false, has_t = false;
  farray x;
  py::array_t<int, py::array::c_style | py::array::forcecast> y;
  farray t;
  rbm::labelled_rows view() const {
    if (!given) return {};
    return {x.data(), has_y ? y.data() : nullptr, has_t ? t.data() : nullptr, int(x.shape(0))};
  }
};

tune_rows tune_rows_from(const py::object& x, const py::object& y, const py::object& t) {
  tune_rows r;
  if (x.is_none()) return r;
  r.given = true;
  r.has_y = !y.is_none();
  r.has_t = !t.is_none();
  r.x = py::cast<farray>(x);
  if (r.has_y) r.y = py::cast<decltype(r.y)>(y);
  if (r.has_t) r.t = py::cast<farray>(t);
  const py::ssize_t rows = r.x.ndim() == 2 ? r.x.shape(0) : -1;
  if (rows < 0 || (r.has_y && (r.y.ndim() != 1 || r.y.shape(0) != rows)) ||
      (r.has_t && (r.t.ndim() != 2 || r.t.shape(0) != rows)))
    throw py::value_error("fine-tuning rows: X [rows, features] with y [rows] or targets [rows, outputs]");
  return r;
}

// Fine-tunes a stack (rbm/host/fine_tune.hpp): `layers` as params dicts, bottom up; a classifier (y given,
// the top with a label group) or a regressor (t given, `head` {"W": [inputs, outputs], "b": [outputs]}).
// Returns (the tuned layers, the tuned head or None, every epoch's figures). Ctrl-C stops at the end of
// an epoch and raises KeyboardInterrupt.
py::tuple fine_tune(const py::list& layer_dicts, const py::object& x, const py::object& y, const py::object& t,
                    const py::object& head_dict, const py::object& x_val, const py::object& y_val,
                    const py::object& t_val, const py::dict& cfg) {
  std::vector<rbm::model_params> layers;
  for (const auto& d : layer_dicts) layers.push_back(params_from(py::cast<py::dict>(d)));
  const tune_rows train = tune_rows_from(x, y, t), held = tune_rows_from(x_val, y_val, t_val);
  rbm::fine_tune_options o;  // its defaults where the config is silent
  o.epochs = get(cfg, "epochs", o.epochs);
  o.batch = get(cfg, "batch", o.batch);
  o.method = optimizer_of(cfg, "optimizer", o.method);
  o.lr = get(cfg, "lr", o.lr);
  o.momentum = get(cfg, "momentum", o.momentum);
  o.weight_decay = get(cfg, "weight_decay", o.weight_decay);
  o.patience = get(cfg, "patience", o.patience);
  o.seed = get(cfg, "seed", o.seed);
  o.threads = get(cfg, "threads", o.threads);
  o.device = get<std::string>(cfg, "device", o.device);
  std::atomic<bool> stop{false};
  bool keyboard = false;
  o.stop = &stop;
  o.on_epoch = [&](const rbm::fine_tune_epoch&) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      PyErr_Clear();
      keyboard = true;
      stop.store(true);
    }
  };
  const bool regressor = !head_dict.is_none();
  rbm::linear_head head;
  if (regressor) {
    const farray w = py::cast<farray>(py::cast<py::dict>(head_dict)["W"]);
    if (w.ndim() != 2) throw py::value_error("the head's W must be [inputs, outputs]");
    head = {int(w.shape(0)), int(w.shape(1)), from_array(head_dict["W"]), from_array(head_dict["b"])};
  }
  std::vector<rbm::fine_tune_epoch> history;
  try {
    py::gil_scoped_release release;
    history = regressor ? rbm::fine_tune_regressor(layers, head, train.view(), held.view(), o)
                        : rbm::fine_tune_classifier(layers, train.view(), held.view(), o);
  } catch (const rbm::interrupted&) {
    if (!keyboard) throw;
    PyErr_SetNone(PyExc_KeyboardInterrupt);  // the GIL is held again here
    throw py::error_already_set();
  }
  py::list tuned, epochs;
  for (const auto& p : layers) tuned.append(params_dict(p));
  for (const auto& e : history) {
    py::dict d;
    d["epoch"] = e.epoch;
    d["train_loss"] = e.train_loss;
    d["held_out_loss"] = e.held_out_loss;
    d["held_out_accuracy"] = e.held_out_accuracy;
    d["seconds"] = e.seconds;
    d["on_gpu"] = e.on_gpu;
    epochs.append(d);
  }
  py::object head_out = py::none();
  if (regressor) {
    py::dict h;
    h["W"] = to_array(head.w, {head.inputs, head.outputs});
    h["b"] = to_array(head.b, {head.outputs});
    head_out = h;
  }
  return py::make_tuple(tuned, head_out, epochs);
}

// The rate, batch, decay and alpha a classifier with `objective` trains with where its caller chose
// none (rbm::classifier_defaults where they apply, else the general defaults; under Adam its own rate):
// ClassificationRBM's None.
py::dict training_defaults(const std::string& objective, const std::string& optimizer) {
  const rbm::train_options general;
  using c = rbm::classifier_defaults;
  const bool own = c::apply_to(objective);
  const rbm::optimizer rule = optimizer_named(optimizer);
  py::dict d;
  d["learning_rate"] = rule == rbm::optimizer::adam ? rbm::adam_defaults::lr : own ? c::lr : general.cd.lr;
  d["batch_size"] = own ? c::batch : general.batch;
  d["learning_rate_decay"] = own ? c::lr_decay : general.lr_decay;
  d["alpha"] = c::alpha;
  return d;
}

// SGD's or Adam's default learning rate for a generative model of `hidden` units, a layer of a stack
// over `below` hidden units (Bernoulli: the bottom layer or a single RBM; rbm::default_layer_sgd_lr).
py::dict unit_defaults(const std::string& hidden, const std::string& optimizer, const std::string& below) {
  const rbm::unit_kind k = hidden_kind_named(hidden);
  py::dict d;
  d["learning_rate"] = optimizer_named(optimizer) == rbm::optimizer::adam
                           ? rbm::adam_defaults::lr
                           : rbm::default_layer_sgd_lr(hidden_kind_named(below), k, false);
  d["learned_sigma_learning_rate"] = rbm::learned_sigma_defaults::lr;  // SGD's, learning sigma
  d["learned_sigma_tempering"] = rbm::learned_sigma_defaults::tempering;
  return d;
}

// Hidden units of kind `hidden` at total inputs x (rbm/units.hpp): (means, log integrals, draws), the
// draws (from uniforms u in (0, 1], the shape of x) None when u is.
py::tuple hidden_units_of(const std::string& hidden, const py::array_t<double, py::array::c_style | py::array::forcecast>& x,
                          const py::object& u_in) {
  const rbm::unit_kind k = hidden_kind_named(hidden);
  py::array_t<double> mean(x.request().shape), log_integral(x.request().shape);
  const double* xs = x.data();
  double *m = mean.mutable_data(), *l = log_integral.mutable_data();
  for (py::ssize_t i = 0; i < x.size(); ++i) {
    m[i] = rbm::hidden_mean(k, xs[i]);
    l[i] = rbm::hidden_log_integral(k, xs[i]);
  }
  if (u_in.is_none()) return py::make_tuple(mean, log_integral, py::none());
  const farray u = py::cast<farray>(u_in);
  if (u.size() != x.size()) throw py::value_error("u must have x's shape");
  py::array_t<double> draws(x.request().shape);
  double* d = draws.mutable_data();
  for (py::ssize_t i = 0; i < x.size(); ++i) {
    const float ui = u.data()[i];
    if (!(ui > 0.0f && ui <= 1.0f)) throw py::value_error("the uniforms must lie in (0, 1]");
    d[i] = rbm::hidden_sample(k, xs[i], ui);
  }
  return py::make_tuple(mean, log_integral, draws);
}

// Generation through a stack (`rbm sample` on a stack's file): `steps` Gibbs sweeps of the top RBM from
// noise, its label `label` clamped (-1: none; rbm::clamp_label), then the down pass (rbm::down_pass):
// the bottom layer's visible means [chains, nv]; a one-layer stack gives its chains' last visible
// means (categorical units: the drawn states, [chains, sites]).
farray sample_stack_of(const py::list& layer_dicts, int chains, int steps, int label, std::uint64_t seed) {
  rbm::stack_model m;
  for (const auto& d : layer_dicts) m.layers.push_back(params_from(py::cast<py::dict>(d)));
  if (m.layers.empty() || chains < 1 || steps < 0) throw py::value_error("a stack, chains >= 1 and steps >= 0");
  rbm::model_params top = m.layers.back();
  if (label >= 0) {
    if (label >= top.classes) throw py::value_error("the label is not one of the top layer's classes");
    top = rbm::clamp_label(top, label);
  }
  std::vector<float> out;
  {
    py::gil_scoped_release release;
    out = rbm::gibbs_snapshots(top, chains, steps, std::max(steps, 1), nullptr, seed).back();
    if (m.layers.size() > 1) out = rbm::down_pass(m, out.data(), chains, seed);
  }
  return to_array(out, {chains, py::ssize_t(out.size() / std::size_t(chains))});
}

// log p(y | x) [rows, classes] of a model with a label group (exact, rbm/host/classification.hpp).
py::array_t<double> class_log_probs_of(const py::dict& params, const farray& v) {
  const rbm::model_params p = params_from(params);
  if (!p.labeled()) throw py::value_error("the model has no label group");
  if (v.ndim() != 2 || v.shape(1) != p.nv) throw py::value_error("X does not fit the model's features");
  py::array_t<double> out({v.shape(0), py::ssize_t(p.classes)});
  double* dst = out.mutable_data();
  const float* src = v.data();
  const int rows = int(v.shape(0));
  {
    py::gil_scoped_release release;  // taken back before `out` is returned
    rbm::class_log_probs(p, src, rows, dst);
  }
  return out;
}

// A CUDA array's values in a NumPy array: its own dtype where it is C-ordered, else float32 rows.
py::array device_to_host(const py::object& mat) {
  require_usable_gpu();
#if RBM_HAVE_CUDA
  const auto shape = py::cast<std::vector<long long>>(mat.attr("shape"));
  if (c_ordered(mat)) {  // its bytes as they are, in its dtype
    const void* src = reinterpret_cast<const void*>(py::cast<std::uintptr_t>(mat.attr("device_pointer")));
    const int dev = rbm::device_of(src);
    if (dev < 0) throw py::value_error("X's CUDA array interface points outside GPU memory");
    py::array out(py::dtype(py::cast<std::string>(mat.attr("typestr"))), std::vector<py::ssize_t>{shape[0], shape[1]});
    void* dst = out.mutable_data();
    const std::size_t bytes = out.nbytes();
    const producer_stream producer = stream_of(mat);
    {
      py::gil_scoped_release release;  // taken back before `out` is returned
      RBM_CUDA_CHECK(cudaSetDevice(dev));
      wait_for_producer(producer.named, producer.handle);
      RBM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    }
    return out;
  }
  const device_rows r = import_device_rows(mat);  // another layout: float32 rows made on the device
  py::array out(py::dtype("<f4"), std::vector<py::ssize_t>{r.n, r.d});
  void* dst = out.mutable_data();
  const std::size_t bytes = out.nbytes();
  {
    py::gil_scoped_release release;
    RBM_CUDA_CHECK(cudaMemcpy(dst, r.rows, bytes, cudaMemcpyDeviceToHost));
  }
  return out;
#else
  (void)mat;
  return py::array();
#endif
}

// The CLI's model file (model.safetensors): a model trained by either opens in the other.
void save_of(const std::string& path, const py::dict& params, const std::map<std::string, std::string>& meta,
             const py::dict& extra) {
  const rbm::model_params p = params_from(params);
  std::map<std::string, rbm::tensor> more;
  for (const auto& kv : extra) {
    const farray a = py::cast<farray>(kv.second);
    more[py::cast<std::string>(kv.first)] = {{std::int64_t(a.size())}, std::vector<float>(a.data(), a.data() + a.size())};
  }
  py::gil_scoped_release release;
  rbm::save_model(path, p, meta, more);
}

py::dict load_of(const std::string& path) {
  rbm::saved_model sm;
  rbm::tensor_file tf;
  {
    py::gil_scoped_release release;
    sm = rbm::load_model(path);
    if (sm.params.gaussian()) tf = rbm::read_tensors(path);  // its standardisation, if any
  }
  py::dict out;
  out["params"] = params_dict(sm.params);
  out["metadata"] = sm.metadata;
  for (const char* name : {"data_mean", "data_std"})
    if (tf.tensors.count(name)) {
      const rbm::tensor& t = tf.tensors.at(name);
      if (t.data.size() != std::size_t(sm.params.nv))
        throw rbm::data_error(path + ": " + name + " does not fit the model's " + std::to_string(sm.params.nv) +
                              " visible units");
      out[name] = to_array(t.data, {py::ssize_t(t.data.size())});
    }
  return out;
}

// log Z: exact (the smaller layer enumerated, at most max_units units) or by AIS from base-rate
// visible biases `base_vb` (hidden 0, W 0); returns (log Z, low, high) — low == high when exact.
py::tuple log_z_of(const py::dict& params, const std::string& method, const py::object& base_vb, int runs, int steps,
                   std::uint64_t seed, int max_units) {
  const rbm::model_params p = params_from(params);
  if (method == "exact") {
    double z;
    {
      py::gil_scoped_release release;  // taken back before any Python object is made
      z = rbm::exact_log_z(p, max_units);
    }
    return py::make_tuple(z, z, z);
  }
  if (method != "ais") throw py::value_error("method must be exact or ais");
  rbm::ais_options a;
  a.runs = runs;
  a.steps = steps;
  a.seed = seed;
  rbm::ais_result r;
  if (p.gaussian()) {  // base: (means, standard deviations) of independent Gaussians
    const auto pair = py::cast<py::tuple>(base_vb);
    const std::vector<float> mean = from_array(pair[0]), sd = from_array(pair[1]);
    if (mean.size() != std::size_t(p.nv) || sd.size() != std::size_t(p.nv))
      throw py::value_error("the base model must have n_features means and deviations");
    py::gil_scoped_release release;
    r = rbm::ais_log_z_gaussian(p, mean, sd, a);
  } else {
    const std::vector<float> base = from_array(base_vb);
    if (base.size() != std::size_t(p.nv)) throw py::value_error("base_vb must have n_features values");
    py::gil_scoped_release release;
    r = rbm::ais_log_z(p, base, a);
  }
  return py::make_tuple(r.log_z, r.log_z_low, r.log_z_high);
}

// The exact pseudo-log-likelihood (every feature flipped in turn), mean over the binary rows.
double pseudo_log_likelihood_of(const py::dict& params, const farray& v) {
  const rbm::model_params p = params_from(params);
  if (v.ndim() != 2 || v.shape(1) != p.nv) throw py::value_error("X does not fit the model's features");
  py::gil_scoped_release release;
  return rbm::pseudo_log_likelihood(p, v.data(), int(v.shape(0)));
}

// Mean log density per row of real values v under a Gaussian-visible model, given log Z.
double mean_log_likelihood_of(const py::dict& params, const farray& v, double log_z) {
  const rbm::model_params p = params_from(params);
  if (v.ndim() != 2 || v.shape(1) != p.nv) throw py::value_error("X does not fit the model's features");
  py::gil_scoped_release release;
  return rbm::mean_log_likelihood(p, v.data(), int(v.shape(0)), log_z);
}

// Per-feature mean and standard deviation (1 where a feature does not vary): the AIS base model.
py::tuple independent_gaussians(const farray& v) {
  if (v.ndim() != 2) throw py::value_error("X must be 2-D");
  std::vector<float> mean, sd;
  rbm::fit_independent_gaussians(v.data(), int(v.shape(0)), int(v.shape(1)), mean, sd);
  return py::make_tuple(to_array(mean, {py::ssize_t(mean.size())}), to_array(sd, {py::ssize_t(sd.size())}));
}

// The base-rate model's visible biases from v binarised at `threshold` (counted in place, no copy).
farray base_rate_bias_of(const farray& v, float threshold) {
  if (v.ndim() != 2) throw py::value_error("X must be 2-D");
  std::vector<float> b;
  {
    py::gil_scoped_release release;
    b = rbm::base_rate_bias(v.data(), int(v.shape(0)), int(v.shape(1)), threshold);
  }
  return to_array(b, {py::ssize_t(b.size())});
}

// rbm::error and its family arrive as ValueError (a precondition: bad parameters or data) or
// RuntimeError; a device out of memory as MemoryError.
void translate_errors(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const rbm::out_of_memory& e) {
    PyErr_SetString(PyExc_MemoryError, e.what());
  } catch (const rbm::host_out_of_memory& e) {
    PyErr_SetString(PyExc_MemoryError, e.what());
  } catch (const rbm::precondition_error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const rbm::data_error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const rbm::error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

// The GPUs this process can use, by name, and why there are none where there are none.
py::tuple devices() {
  const rbm::device_report rep = rbm::query_devices();
  py::list names;
  for (const auto& d : rep.devices) names.append(d.name);
  return py::make_tuple(names, rep.reason);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "rbm's C++/CUDA core: the training entry point and what the build has";
  m.attr("__version__") = rbm::version;
  m.def("training_defaults", &training_defaults, py::arg("objective"), py::arg("optimizer") = "sgd");
  m.def("train", &train, py::arg("X"), py::arg("config"), py::arg("start") = py::none(),
        py::arg("on_epoch") = py::none(), py::arg("y") = py::none());
  m.def("fine_tune", &fine_tune, py::arg("layers"), py::arg("X"), py::arg("y"), py::arg("targets"), py::arg("head"),
        py::arg("X_val"), py::arg("y_val"), py::arg("targets_val"), py::arg("config"));
  m.def("class_log_probs", &class_log_probs_of);
  m.def("sample_stack", &sample_stack_of, py::arg("layers"), py::arg("chains"), py::arg("steps"), py::arg("label"),
        py::arg("seed"));
  m.def("device_to_host", &device_to_host);
  m.def("cuda_built", &rbm::cuda_backend_built, "whether this build has the CUDA backend");
  m.def("save", &save_of, py::arg("path"), py::arg("params"), py::arg("metadata"), py::arg("extra") = py::dict());
  m.def("load", &load_of);
  m.def("log_z", &log_z_of);
  m.def("exact_log_z_bits", [](const py::dict& params) { return rbm::exact_log_z_bits(params_from(params)); });
  m.def("unit_defaults", &unit_defaults, py::arg("hidden"), py::arg("optimizer") = "sgd",
        py::arg("below") = "bernoulli");
  m.def("hidden_units", &hidden_units_of, py::arg("hidden"), py::arg("x"), py::arg("u") = py::none());
  m.def("pseudo_log_likelihood", &pseudo_log_likelihood_of);
  m.def("mean_log_likelihood", &mean_log_likelihood_of);
  m.def("independent_gaussians", &independent_gaussians);
  m.def("base_rate_bias", &base_rate_bias_of, py::arg("X"), py::arg("threshold") = 0.5f);
  m.def("devices", &devices);
  py::register_exception_translator(&translate_errors);
}
