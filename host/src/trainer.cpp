// The training loop, checkpoints (with everything needed to resume exactly) and the files a run writes.
#include "rbm/host/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "rbm/device_info.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/output_lock.hpp"
#if RBM_HAVE_CUDA
#include "rbm/host/cuda_backend.hpp"
#endif
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/shuffle.hpp"
#include "rbm/version.hpp"

namespace fs = std::filesystem;

namespace rbm {
namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// A number as a user wrote it: integers as integers, others in the shortest form ("0.5", "1e-05").
template <class T>
std::string shown(T v) {
  if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    std::ostringstream out;
    out << v;
    return out.str();
  }
}

void validate(const dataset& data, const train_options& o) {
  auto positive = [](const char* what, auto v) {
    if (!(v > 0)) throw precondition_error(std::string(what) + " must be positive (got " + shown(v) + ")");
    if (!std::isfinite(double(v))) throw precondition_error(std::string(what) + " must be finite (got " + shown(v) + ")");
  };
  positive("the number of hidden units (nh)", o.cd.nh);
  positive("the Gibbs steps per update (k)", o.cd.k);
  positive("the number of epochs", o.epochs);
  positive("the batch size", o.batch);
  positive("the learning rate (lr)", o.cd.lr);
  positive("the learning-rate decay (lr_decay)", o.lr_decay);
  // Every real-valued setting finite and in its range (NaN fails every comparison below; an infinite
  // one is refused by name): a checkpoint must hold what it trained with, and JSON has no NaN.
  auto in_range = [](const char* what, float v, float lo, float hi, bool open_hi) {
    if (!std::isfinite(v) || v < lo || (open_hi ? v >= hi : v > hi))
      throw precondition_error(std::string(what) + " must be a finite number in [" + shown(lo) + ", " + shown(hi) +
                               (open_hi ? ")" : "]") + " (got " + shown(v) + ")");
  };
  const float inf = std::numeric_limits<float>::infinity();
  in_range("the momentum", o.cd.momentum, 0, 1, true);
  if (o.initial_momentum != -1)  // -1: no momentum schedule
    in_range("the initial momentum", o.initial_momentum, 0, 1, true);
  in_range("the weight decay", o.cd.weight_decay, 0, inf, true);
  in_range("the sparsity target", o.cd.sparsity_target, 0, 1, true);
  in_range("the sparsity cost", o.cd.sparsity_cost, 0, inf, true);
  in_range("alpha", o.alpha, 0, inf, true);
  in_range("sigma_floor", o.cd.sigma_floor, 0, inf, true);
  if (o.early_stop < 0 || o.snapshot_every < 0 || o.eval_every < 0 || o.momentum_epochs < 0 || o.eval_limit < 0)
    throw precondition_error("early_stop, snapshot_every, eval_every, momentum_epochs and eval_limit must not be negative");
  if (o.classes != 0 && (o.classes < 2 || o.classes > max_classes))
    throw precondition_error("classes must be 0 (the largest label + 1) or 2 to " + std::to_string(max_classes) +
                             " (got " + std::to_string(o.classes) + ")");
  if (o.eval_every > 0 && (o.ais.runs <= 0 || o.ais.runs > max_ais_runs || o.ais.steps < 10 ||
                           o.ais.steps > max_ais_steps))
    throw precondition_error("AIS needs 1 to " + std::to_string(max_ais_runs) + " runs and 10 to " +
                             std::to_string(max_ais_steps) + " steps (got " + std::to_string(o.ais.runs) + " and " +
                             std::to_string(o.ais.steps) + ")");
  if (data.train.count <= 0) throw data_error(data.name + ": the training set is empty");
  if (o.tutorial_batches && data.train.count <= o.batch)
    throw precondition_error("the tutorial's batching needs more than a batch (" + std::to_string(o.batch) +
                             ") training samples, got " + std::to_string(data.train.count));
  if (std::size_t(o.cd.nv) * o.cd.nh > (std::size_t(1) << 31))
    throw precondition_error("a " + std::to_string(o.cd.nv) + " x " + std::to_string(o.cd.nh) +
                             " weight matrix exceeds 2^31 elements");
  if (data.test.count > 0 && data.test.dim() != o.cd.nv)
    throw data_error(data.test.source + ": held-out images do not match the training images in size");
}

// Creates `dir` and proves it writable before any work starts.
// Whether it created the directory (else it was there).
bool prepare_out_dir(const std::string& dir) {
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw data_error(dir + ": cannot create the output directory (" + ec.message() + ")");
  if (::access(dir.c_str(), W_OK) != 0) throw data_error(dir + ": the output directory is not writable");
  return !existed;
}

// Removes the output directory a failed run created, if the run left it empty (an error before the
// first file: nothing half-written, and no empty directory either).
class remove_if_failed_empty {
 public:
  remove_if_failed_empty() = default;
  void watch(const std::string& dir) { dir_ = dir; }
  ~remove_if_failed_empty() {
    std::error_code ec;
    if (!dir_.empty() && std::uncaught_exceptions() > exceptions_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
  }
  remove_if_failed_empty(const remove_if_failed_empty&) = delete;
  remove_if_failed_empty& operator=(const remove_if_failed_empty&) = delete;

 private:
  std::string dir_;
  int exceptions_ = std::uncaught_exceptions();
};

nlohmann::json config_json(const train_options& o, const dataset& data, const std::string& backend_name) {
  return {{"nv", o.cd.nv}, {"nh", o.cd.nh}, {"k", o.cd.k}, {"pcd", o.cd.pcd}, {"lr", o.cd.lr},
          {"momentum", o.cd.momentum}, {"weight_decay", o.cd.weight_decay},
          {"sparsity_target", o.cd.sparsity_target}, {"sparsity_cost", o.cd.sparsity_cost},
          {"sum_weight_gradient", o.cd.sum_weight_gradient}, {"hidden_bias_from_states", o.cd.hidden_bias_from_states},
          {"seed", o.cd.seed}, {"batch", o.batch}, {"epochs", o.epochs}, {"zero_init", o.zero_init},
          {"tutorial_batches", o.tutorial_batches}, {"binarize", o.binarize}, {"preset", o.preset},
          {"backend", backend_name},
          {"gemm", to_string(o.gpu.mode)}, {"initial_momentum", o.initial_momentum},
          {"momentum_epochs", o.momentum_epochs}, {"lr_decay", o.lr_decay}, {"early_stop", o.early_stop},
          {"snapshot_every", o.snapshot_every}, {"eval_every", o.eval_every}, {"ais_runs", o.ais.runs},
          {"ais_steps", o.ais.steps}, {"eval_limit", o.eval_limit}, {"image_rows", data.train.rows},
          {"image_cols", data.train.cols}, {"train_count", data.train.count},
          {"visible", to_string(o.cd.visible)}, {"visible_sample", o.cd.visible_sample},
          {"learn_sigma", o.cd.learn_sigma}, {"sigma_floor", o.cd.sigma_floor},
          {"standardize", o.standardize}, {"labels", o.labels}, {"classes", o.classes}, {"validation", o.validation},
          {"objective", o.objective}, {"alpha", o.alpha}};
}

// The options a checkpoint was trained with; what the user may change on resume is kept from `cli`.
train_options options_from_checkpoint(const nlohmann::json& c, const train_options& cli) {
  train_options o = cli;
  o.cd.nv = c.at("nv");
  o.cd.nh = c.at("nh");
  o.cd.k = c.at("k");
  o.cd.pcd = c.at("pcd");
  o.cd.lr = c.at("lr");
  o.cd.momentum = c.at("momentum");
  o.cd.weight_decay = c.at("weight_decay");
  o.cd.sparsity_target = c.at("sparsity_target");
  o.cd.sparsity_cost = c.at("sparsity_cost");
  o.cd.sum_weight_gradient = c.at("sum_weight_gradient");
  o.cd.hidden_bias_from_states = c.at("hidden_bias_from_states");
  o.cd.seed = c.at("seed");
  o.batch = c.at("batch");
  o.zero_init = c.at("zero_init");
  o.tutorial_batches = c.at("tutorial_batches");
  o.binarize = c.value("binarize", false);
  const std::string visible = c.value("visible", std::string(to_string(unit_kind::bernoulli)));
  if (!parse_unit_kind(visible, o.cd.visible))
    throw precondition_error("the configuration names visible units '" + visible + "' (known: " + unit_kind_list() + ")");
  o.cd.visible_sample = c.value("visible_sample", false);
  o.cd.learn_sigma = c.value("learn_sigma", false);
  o.cd.sigma_floor = c.value("sigma_floor", 0.05f);
  o.standardize = c.value("standardize", false);
  o.labels = c.value("labels", false);
  o.classes = c.value("classes", 0);
  o.objective = c.value("objective", std::string("generative"));
  o.alpha = c.value("alpha", 0.01f);
  o.validation = c.value("validation", 0);
  o.preset = c.at("preset");
  o.initial_momentum = c.at("initial_momentum");
  o.momentum_epochs = c.at("momentum_epochs");
  o.lr_decay = c.at("lr_decay");
  o.early_stop = c.at("early_stop");
  o.snapshot_every = c.at("snapshot_every");
  o.eval_every = c.at("eval_every");
  o.ais.runs = c.at("ais_runs");
  o.ais.steps = c.at("ais_steps");
  o.eval_limit = c.at("eval_limit");
  if (cli.epochs <= 0) o.epochs = c.at("epochs");  // not given on the command line: the original plan
  o.out_dir = cli.resume;
  o.init_from.clear();
  return o;
}

nlohmann::json to_json(const eval_result& r) {
  return {{"err_sampled", r.err_sampled}, {"err_mean_field", r.err_mean_field}, {"free_energy", r.free_energy},
          {"samples", r.samples}};
}
eval_result eval_from_json(const nlohmann::json& j) {
  eval_result r;
  r.err_sampled = j.at("err_sampled");
  r.err_mean_field = j.at("err_mean_field");
  r.free_energy = j.at("free_energy");
  r.samples = j.at("samples");
  return r;
}
nlohmann::json nan_to_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); }
double null_to_nan(const nlohmann::json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

nlohmann::json history_json(const std::vector<epoch_metrics>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& m : h)
    a.push_back({{"epoch", m.epoch}, {"samples_seen", m.samples_seen}, {"seconds", m.seconds},
                 {"samples_per_s", m.samples_per_s}, {"train", to_json(m.train)}, {"test", to_json(m.test)},
                 {"lr", m.lr}, {"momentum", m.momentum}, {"ais_log_z", nan_to_null(m.ais_log_z)},
                 {"test_log_likelihood", nan_to_null(m.test_log_likelihood)},
                 {"train_accuracy", nan_to_null(m.train_accuracy)}, {"test_accuracy", nan_to_null(m.test_accuracy)},
                 {"train_class_ll", nan_to_null(m.train_class_ll)}, {"test_class_ll", nan_to_null(m.test_class_ll)}});
  return a;
}

std::vector<epoch_metrics> history_from_json(const nlohmann::json& a) {
  std::vector<epoch_metrics> h;
  for (const auto& j : a) {
    epoch_metrics m;
    m.epoch = j.at("epoch");
    m.samples_seen = j.at("samples_seen");
    m.seconds = j.at("seconds");
    m.samples_per_s = j.at("samples_per_s");
    m.train = eval_from_json(j.at("train"));
    m.test = eval_from_json(j.at("test"));
    m.lr = j.at("lr");
    m.momentum = j.at("momentum");
    m.ais_log_z = null_to_nan(j.at("ais_log_z"));
    m.test_log_likelihood = null_to_nan(j.at("test_log_likelihood"));
    for (auto [key, field] : {std::pair{"train_accuracy", &epoch_metrics::train_accuracy},
                              std::pair{"test_accuracy", &epoch_metrics::test_accuracy},
                              std::pair{"train_class_ll", &epoch_metrics::train_class_ll},
                              std::pair{"test_class_ll", &epoch_metrics::test_class_ll}})
      m.*field = j.contains(key) ? null_to_nan(j.at(key)) : std::nan("");
    h.push_back(m);
  }
  return h;
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

double lr_of(const train_options& o, int epoch) { return o.cd.lr * std::pow(double(o.lr_decay), epoch - 1); }
double momentum_of(const train_options& o, int epoch) {
  return o.initial_momentum >= 0 && epoch <= o.momentum_epochs ? o.initial_momentum : o.cd.momentum;
}

// Everything a run needs to continue from an output directory.
struct checkpoint {
  model_params params;
  training_state state;
  int epoch = 0;                 // finished epochs
  int batch = 0;                 // finished batches of the next epoch (an interrupted run)
  long samples_seen = 0;
  nlohmann::json config;
  std::string dataset;
  std::vector<epoch_metrics> history;
};

// The per-feature statistics the data were standardised with (empty: none), kept with the model so
// that tools can apply them to new data.
struct standardization {
  std::vector<float> mean, sd;
};

void save_checkpoint(const std::string& path, const backend& be, int epoch, int batch, long seen,
                     const nlohmann::json& config, const std::string& dataset_name,
                     const std::vector<epoch_metrics>& history, const standardization& stats) {
  const model_params p = be.params();
  const training_state st = be.state();
  tensor_file f;
  f.tensors["W"] = {{p.nv, p.nh}, p.w};
  f.tensors["vb"] = {{p.nv}, p.vb};
  f.tensors["hb"] = {{p.nh}, p.hb};
  f.tensors["vel_W"] = {{p.nv, p.nh}, st.vel_w};
  f.tensors["vel_vb"] = {{p.nv}, st.vel_vb};
  f.tensors["vel_hb"] = {{p.nh}, st.vel_hb};
  if (!st.vel_log_sigma.empty()) f.tensors["vel_log_sigma"] = {{p.nv}, st.vel_log_sigma};
  if (!st.vel_label_w.empty()) {
    f.tensors["vel_label_W"] = {{p.classes, p.nh}, st.vel_label_w};
    f.tensors["vel_label_b"] = {{p.classes}, st.vel_label_b};
  }
  if (st.chains > 0) f.tensors["chain_h"] = {{st.chains, p.nh}, st.chain_h};
  f.metadata = {{"format", "rbm"}, {"config", config.dump()}, {"epoch", std::to_string(epoch)},
                {"dataset", dataset_name}, {"rbm_version", version},
                {"rng_position", std::to_string(st.rng_position)}, {"chains", std::to_string(st.chains)},
                {"batch", std::to_string(batch)}, {"samples_seen", std::to_string(seen)},
                {"history", history_json(history).dump()}};
  add_unit_tensors(f, p);
  if (!stats.mean.empty()) {
    f.tensors["data_mean"] = {{p.nv}, stats.mean};
    f.tensors["data_std"] = {{p.nv}, stats.sd};
  }
  write_tensors(path, f);
}

checkpoint load_checkpoint(const std::string& dir) {
  const std::string path = (fs::path(dir) / "model.safetensors").string();
  if (!fs::exists(path)) throw data_error(path + ": no checkpoint to resume from");
  tensor_file f = read_tensors(path);
  const saved_model m = load_model(path);  // validates W, vb, hb
  checkpoint c;
  c.params = m.params;
  try {
    for (const char* key : {"config", "epoch", "rng_position", "chains", "history"})
      if (!f.metadata.count(key)) throw data_error(path + ": not a resumable checkpoint (no '" + key + "' in its metadata)");
    for (const char* name : {"vel_W", "vel_vb", "vel_hb"})
      if (!f.tensors.count(name)) throw data_error(path + ": not a resumable checkpoint (no tensor '" + name + "')");
    c.config = nlohmann::json::parse(f.metadata["config"]);
    c.epoch = std::stoi(f.metadata["epoch"]);
    c.batch = f.metadata.count("batch") ? std::stoi(f.metadata["batch"]) : 0;
    c.dataset = f.metadata["dataset"];
    c.history = history_from_json(nlohmann::json::parse(f.metadata["history"]));
    c.samples_seen = f.metadata.count("samples_seen") ? std::stol(f.metadata["samples_seen"])
                     : c.history.empty()              ? 0
                                                      : c.history.back().samples_seen;
    c.state.vel_w = f.tensors["vel_W"].data;
    c.state.vel_vb = f.tensors["vel_vb"].data;
    c.state.vel_hb = f.tensors["vel_hb"].data;
    if (f.tensors.count("vel_log_sigma")) c.state.vel_log_sigma = f.tensors["vel_log_sigma"].data;
    if (f.tensors.count("vel_label_W") && f.tensors.count("vel_label_b")) {
      c.state.vel_label_w = f.tensors["vel_label_W"].data;
      c.state.vel_label_b = f.tensors["vel_label_b"].data;
      if (c.state.vel_label_w.size() != c.params.label_w.size() || c.state.vel_label_b.size() != c.params.label_b.size())
        throw data_error(path + ": the label group's optimizer state does not fit the model's shape");
    }
    c.state.chains = std::stoi(f.metadata["chains"]);
    c.state.rng_position = std::stoull(f.metadata["rng_position"]);
    if (c.state.chains > 0) {
      if (!f.tensors.count("chain_h")) throw data_error(path + ": the PCD chains are missing");
      c.state.chain_h = f.tensors["chain_h"].data;
    }
    if (c.state.vel_w.size() != c.params.w.size() || c.state.vel_vb.size() != c.params.vb.size() ||
        c.state.vel_hb.size() != c.params.hb.size() || c.state.chain_h.size() != std::size_t(c.state.chains) * c.params.nh)
      throw data_error(path + ": the optimizer state does not fit the model's shape");
  } catch (const nlohmann::json::exception& e) {
    throw data_error(path + ": malformed checkpoint metadata (" + e.what() + ")");
  } catch (const std::logic_error& e) {  // std::stoi / stoull
    throw data_error(path + ": malformed checkpoint metadata (" + e.what() + ")");
  }
  return c;
}

// filters.png where the data has a picture shape; error.png (and likelihood.png where AIS ran) where the
// build draws plots. Returns a note for the caller when plots were left out.
std::string write_pictures(const fs::path& out, const model_params& p, const dataset& data,
                           const std::vector<epoch_metrics>& history) {
  if (data.train.rows > 1)  // a picture shape; 1 x D real-valued samples have none to tile
    write_png((out / "filters.png").string(), tile_filters(p, data.train.rows, data.train.cols));
  if (!can_plot()) return "error.png and likelihood.png not drawn: this build has no plotting library (cairo)";
  std::vector<curve> curves(4);
  curves[0] = {"train, sampled (tutorial)", {}, 200, 30, 30};
  curves[1] = {"train, mean-field", {}, 240, 150, 40};
  curves[2] = {"held-out, sampled", {}, 30, 80, 200};
  curves[3] = {"held-out, mean-field", {}, 40, 170, 200};
  curve ll{"held-out log-likelihood (AIS)", {}, 30, 120, 60};
  for (const auto& m : history) {
    curves[0].y.push_back(m.train.err_sampled);
    curves[1].y.push_back(m.train.err_mean_field);
    curves[0].x.push_back(m.epoch);
    curves[1].x.push_back(m.epoch);
    if (m.test.samples > 0) {
      curves[2].y.push_back(m.test.err_sampled);
      curves[3].y.push_back(m.test.err_mean_field);
      curves[2].x.push_back(m.epoch);
      curves[3].x.push_back(m.epoch);
    }
    if (std::isfinite(m.test_log_likelihood)) {
      ll.y.push_back(m.test_log_likelihood);
      ll.x.push_back(m.epoch);
    }
  }
  if (data.test.count == 0) curves.resize(2);
  const bool real = p.visible == unit_kind::gaussian;
  write_png((out / "error.png").string(),
            plot_curves(curves, "reconstruction error", "epoch", real ? "mean squared error (the model's units)" : "mean squared error (pixels in [0, 1])"));
  if (!ll.y.empty())
    write_png((out / "likelihood.png").string(),
              plot_curves({ll}, "held-out log-likelihood", "epoch", real ? "nats per sample (density)" : "nats per image"));
  return "";
}

}  // namespace

bool cuda_backend_built() {
#if RBM_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

namespace {
// Refuses up front, naming the bytes, a model the machine's memory cannot hold (W, its gradient and
// momentum, a batch's data and reconstructed layers: a lower bound), rather than failing in an
// allocation halfway through; `rows` is the largest batch that will run.
double host_bytes_needed(int nv, int nh, int rows) {
  return 4.0 * (3.0 * nv * double(nh) + 2.0 * rows * double(nv + nh));
}

double host_bytes_present() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

void check_host_memory(const cd_config& cfg, int rows) {
  const double need = host_bytes_needed(cfg.nv, cfg.nh, rows), have = host_bytes_present();
  if (have > 0 && need > have)
    throw host_out_of_memory("a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) + " model with batch " +
                                 std::to_string(rows) + " needs at least " + std::to_string(std::llround(need)) +
                                 " bytes (" + std::to_string(std::llround(need / 1048576.0)) + " MiB) of memory; this machine has " +
                                 std::to_string(std::llround(have / 1048576.0)) + " MiB",
                             std::size_t(need));
}

void check_device_name(const std::string& device) {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw precondition_error("the device must be auto, cpu or cuda (got '" + device + "')");
}
}  // namespace

bool gpu_chosen(const std::string& device) {
  check_device_name(device);
  if (device == "cpu") return false;
  const device_report rep = query_devices();
  if (cuda_backend_built() && !rep.devices.empty()) return true;
  if (device == "cuda") throw error("the device cuda was asked for, but no GPU is usable (" + rep.reason + ")");
  return false;
}

std::unique_ptr<backend> make_backend(const std::string& device, const cd_config& cfg, int max_batch,
                                      const gpu_options& gpu, std::string& why, int cpu_rows) {
  check_device_name(device);
  if (gpu.resident != "auto" && gpu.resident != "on" && gpu.resident != "off")
    throw precondition_error("data residency must be auto, on or off (got '" + gpu.resident + "')");
  std::string fallback;
  if (device != "cpu") {
    const device_report rep = query_devices();
    if (rep.devices.empty()) {
      if (device == "cuda") throw error("the device cuda was asked for, but no GPU is usable (" + rep.reason + ")");
      fallback = "no usable GPU (" + rep.reason + ")";
    } else {
#if RBM_HAVE_CUDA
      try {
        auto b = std::make_unique<cuda_backend>(cfg, max_batch, gpu);
        why = "using the CUDA backend (device " + device + "): " + b->name();
        return b;
      } catch (const out_of_memory& e) {
        throw out_of_memory("device " + device + ": a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) +
                                " model with batch " + std::to_string(max_batch) + " does not fit on the GPU: " + e.what(),
                            e.code(), e.requested());
      } catch (const error& e) {
        if (device == "cuda") throw error(std::string("the device cuda was asked for, but the GPU cannot be used: ") + e.what());
        fallback = std::string("the GPU cannot be used (") + e.what() + ")";
      }
#endif
    }
  }
  check_host_memory(cfg, cpu_rows > 0 ? cpu_rows : max_batch);
  auto b = std::make_unique<cpu_backend>(cfg);
  why = device == "cpu" ? "using the CPU backend (device cpu): " + b->name()
                        : "using the CPU backend (device auto): " + fallback + "; " + b->name();
  return b;
}

train_options seed_preset() {
  train_options o;
  o.cd.nh = 50;
  o.cd.k = 1;
  o.cd.lr = 0.01f;
  o.cd.momentum = 0.0f;
  o.cd.weight_decay = 0.0f;
  o.cd.sum_weight_gradient = true;
  o.cd.hidden_bias_from_states = true;
  o.epochs = 5;
  o.batch = 100;
  o.zero_init = true;
  o.tutorial_batches = true;
  o.eval_limit = 0;  // the tutorial's error is over the whole training set
  o.preset = "seed";
  return o;
}

std::string metrics_csv(const std::vector<epoch_metrics>& history) {
  std::string s =
      "epoch,samples_seen,seconds,samples_per_s,lr,momentum,train_err_sampled,train_err_mean_field,test_err_sampled,"
      "test_err_mean_field,train_free_energy,test_free_energy,free_energy_gap,ais_log_z,test_log_likelihood\n";
  auto num = [](double x, const char* fmt) {
    if (!std::isfinite(x)) return std::string();
    char b[64];
    std::snprintf(b, sizeof b, fmt, x);
    return std::string(b);
  };
  const bool labeled = std::any_of(history.begin(), history.end(), [](const epoch_metrics& m) {
    return std::isfinite(m.train_accuracy);
  });
  if (labeled) s.insert(s.size() - 1, ",train_accuracy,test_accuracy,train_class_log_likelihood,test_class_log_likelihood");
  for (const auto& m : history) {
    const double nan = std::nan("");
    const bool t = m.test.samples > 0;
    s += std::to_string(m.epoch) + "," + std::to_string(m.samples_seen) + "," + num(m.seconds, "%.3f") + "," +
         num(m.samples_per_s, "%.1f") + "," + num(m.lr, "%.6g") + "," + num(m.momentum, "%.4g") + "," +
         num(m.train.err_sampled, "%.6f") + "," + num(m.train.err_mean_field, "%.6f") + "," +
         num(t ? m.test.err_sampled : nan, "%.6f") + "," + num(t ? m.test.err_mean_field : nan, "%.6f") + "," +
         num(m.train.free_energy, "%.4f") + "," + num(t ? m.test.free_energy : nan, "%.4f") + "," +
         num(t ? m.test.free_energy - m.train.free_energy : nan, "%.4f") + "," + num(m.ais_log_z, "%.4f") + "," +
         num(m.test_log_likelihood, "%.4f") +
         (labeled ? "," + num(m.train_accuracy, "%.4f") + "," + num(m.test_accuracy, "%.4f") + "," +
                        num(m.train_class_ll, "%.5f") + "," + num(m.test_class_ll, "%.5f")
                  : std::string()) +
         "\n";
  }
  return s;
}

namespace {
// Real values for Gaussian visible units: .npy values as they are, or pixels / 255.
dataset real_valued(const dataset& d) {
  dataset r = d;
  for (auto* set : {&r.train, &r.test}) {
    if (set->count == 0 || set->real()) continue;
    set->values.resize(set->pixels.size());
    for (std::size_t i = 0; i < set->pixels.size(); ++i) set->values[i] = pixel_to_unit(set->pixels[i]);
    set->pixels.clear();
  }
  return r;
}

// Standardised per feature with the training set's mean and standard deviation, computed by the
// backend (Thrust on the GPU); a feature that does not vary keeps a standard deviation of 1, so it is
// centred, never divided by zero.
void standardize_sets(dataset& r, backend& be, std::vector<float>& mean, std::vector<float>& sd) {
  const int dim = r.train.dim();
  be.column_statistics(r.train.value_data(), r.train.count, dim, mean, sd);
  for (auto* set : {&r.train, &r.test}) {
    if (set->borrowed != nullptr) {  // the caller's values are read, never written: standardise a copy
      set->values.assign(set->borrowed, set->borrowed + std::size_t(set->count) * dim);
      set->borrowed = nullptr;
    }
    for (std::size_t k = 0; k < set->values.size(); ++k)
      set->values[k] = (set->values[k] - mean[k % dim]) / sd[k % dim];
  }
}

}  // namespace

dataset validation_split(const dataset& d, int n) {
  if (n < 0) throw precondition_error("validation must not be negative (got " + std::to_string(n) + ")");
  dataset split;
  if (n == 0) return split;
  if (d.train.device_values != nullptr)
    throw precondition_error("a validation split needs the training rows in host memory (not a CUDA array)");
  if (n >= d.train.count)
    throw precondition_error("validation (" + std::to_string(n) + ") must leave training images: " + d.train.source +
                             " has " + std::to_string(d.train.count));
  split.name = d.name;
  split.train = d.train;
  split.test = split_tail(split.train, n);
  return split;
}

std::pair<double, double> classify_rows(const model_params& p, const image_set& set, const float* values, int rows) {
  const int dim = set.dim(), chunk = 1000, k = p.classes;
  std::vector<float> v;
  std::vector<double> lp;
  long right = 0;
  double ll = 0;
  for (int first = 0; first < rows; first += chunk) {
    const int n = std::min(chunk, rows - first);
    const float* x = values != nullptr ? values + std::size_t(first) * dim : nullptr;
    if (x == nullptr) {
      v.resize(std::size_t(n) * dim);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = pixel_to_unit(set.pixels[std::size_t(first) * dim + i]);
      x = v.data();
    }
    lp.resize(std::size_t(n) * k);
    class_log_probs(p, x, n, lp.data());
    for (int r = 0; r < n; ++r) {
      const double* row = lp.data() + std::size_t(r) * k;
      const int y = set.labels[first + r];
      right += int(std::max_element(row, row + k) - row) == y;
      ll += row[y];
    }
  }
  return {double(right) / rows, ll / rows};
}

namespace {

constexpr std::uint64_t label_seed_salt = 0x94d049bb133111ebull;  // the label weights' initial draws

// Epochs since held-out accuracy last improved (0 when the newest epoch is the best so far).
int epochs_since_best_accuracy(const std::vector<epoch_metrics>& h) {
  int best = -1;
  for (int i = 0; i < int(h.size()); ++i)
    if (std::isfinite(h[i].test_accuracy) && (best < 0 || h[i].test_accuracy > h[best].test_accuracy)) best = i;
  return best < 0 ? 0 : int(h.size()) - 1 - best;
}

}  // namespace

std::vector<float> model_inputs(const image_set& s, bool binarize, const std::vector<float>& mean,
                                const std::vector<float>& sd) {
  const std::size_t dim = std::size_t(s.dim()), n = std::size_t(s.count) * dim;
  std::vector<float> v(n);
  if (s.real()) {
    RBM_EXPECTS(s.device_values == nullptr);
    std::copy_n(s.value_data(), n, v.data());
  } else {
    for (std::size_t i = 0; i < n; ++i) v[i] = pixel_to_unit(binarize ? (s.pixels[i] >= 128 ? 255 : 0) : s.pixels[i]);
  }
  if (!mean.empty()) {
    RBM_EXPECTS(mean.size() == dim && sd.size() == dim);
    for (std::size_t k = 0; k < n; ++k) v[k] = (v[k] - mean[k % dim]) / sd[k % dim];
  }
  return v;
}

std::string options_json(const train_options& o) { return config_json(o, dataset{}, "").dump(); }

train_options options_from_json(const std::string& json, const train_options& keep) {
  train_options o = options_from_checkpoint(nlohmann::json::parse(json), keep);
  o.out_dir = keep.out_dir;
  o.resume = keep.resume;
  return o;
}

namespace {
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
train_result train_run(const dataset& data_given, const train_options& opts_in) {
  train_options o = opts_in;
  model_params start;
  checkpoint resumed;
  const bool resuming = !opts_in.resume.empty();
  if (resuming) {
    resumed = load_checkpoint(opts_in.resume);
    try {
      o = options_from_checkpoint(resumed.config, opts_in);
    } catch (const nlohmann::json::exception& e) {  // a value the options cannot hold (null, a string, ...)
      throw data_error(opts_in.resume + ": the checkpoint's configuration cannot be read (" + e.what() + ")");
    }
    const int given = int(resumed.config.value("train_count", -1)) + int(resumed.config.value("validation", 0));
    if (resumed.dataset != data_given.name || given != data_given.train.count)
      throw data_error(opts_in.resume + ": the checkpoint was trained on " + resumed.dataset + " (" +
                       std::to_string(given) + " images); pass the same data options (got " + data_given.name + ", " +
                       std::to_string(data_given.train.count) + " images)");
    // A run killed after its last checkpoint but before its pictures resumes to write them; asking for
    // fewer epochs than are done is a mistake.
    if (resumed.epoch > o.epochs || (resumed.epoch == o.epochs && resumed.batch > 0))
      throw precondition_error(opts_in.resume + ": the checkpoint already has " + std::to_string(resumed.epoch) +
                               " epochs; ask for more epochs");
    start = resumed.params;
  }
  // A validation split: the last N training images become the held-out set of the whole run.
  const dataset split = validation_split(data_given, o.validation);
  const dataset& data_in = o.validation > 0 ? split : data_given;
  const bool gauss = o.cd.visible == unit_kind::gaussian;
  if (gauss && o.binarize) throw precondition_error("binarize applies to Bernoulli visible units only");
  if (!gauss && o.standardize) throw precondition_error("standardize applies to Gaussian visible units only");
  if (!gauss && o.cd.learn_sigma) throw precondition_error("learn_sigma applies to Gaussian visible units only");
  if (o.cd.learn_sigma && !o.cd.visible_sample)
    throw precondition_error("learn_sigma needs sampled visible reconstructions (visible_sample): with their mean, "
                             "the negative phase lacks the noise, and sigma grows without bound");
  if (gauss && !(o.cd.sigma_floor > 0))
    throw precondition_error("sigma_floor must be positive (got " + shown(o.cd.sigma_floor) + ")");
  const bool on_device = data_in.train.device_values != nullptr;
  if (on_device && (o.binarize || o.eval_every > 0))
    throw precondition_error("training rows in GPU memory are read as they are, on the CUDA backend: no binarize "
                             "or eval_every (AIS during training reads pixels)");
  if (on_device && data_in.test.count > 0 && (data_in.test.device_values != nullptr || !data_in.test.real()))
    throw precondition_error("with training rows in GPU memory, the held-out rows are real values in host memory");
  if (!gauss && data_in.train.real() && !o.any_values)
    for (const image_set* set : {&data_in.train, &data_in.test}) {
      if (set->device_values != nullptr) continue;  // summarised on the device below
      for (const float *x = set->value_data(), *end = x + std::size_t(set->count) * set->dim(); x != end; ++x)
        if (!(*x >= 0.0f && *x <= 1.0f))
          throw data_error(set->source + ": holds values outside [0, 1] (" + std::to_string(*x) +
                           "), which Bernoulli visible units cannot model; train Gaussian visible units instead");
    }
  if (!gauss && data_in.train.real() && (o.binarize || o.eval_every > 0))
    throw precondition_error("binarize and AIS during training (eval_every) read pixel data; real-valued data "
                             "for Bernoulli visible units support neither yet");
  const bool labeled = o.labels;
  if (o.objective != "generative" && o.objective != "discriminative" && o.objective != "hybrid")
    throw precondition_error("the objective must be generative, discriminative or hybrid (got '" + o.objective + "')");
  if (!labeled && o.objective != "generative")
    throw precondition_error("the " + o.objective + " objective needs labels (a label group to classify with)");
  if (labeled && o.objective == "hybrid" && !(o.alpha > 0))
    throw precondition_error("the hybrid objective needs a positive alpha (the generative term's weight; got " +
                             shown(o.alpha) + ")");
  if (labeled && o.objective != "discriminative" && gauss)
    throw precondition_error("the " + o.objective + " objective with labels needs Bernoulli visible units (the "
                             "discriminative one also takes Gaussian units)");
  if (labeled && o.cd.sum_weight_gradient)
    throw precondition_error("labels take the mean gradient (not the tutorial's summed one)");
  const float disc_weight = o.objective == "generative" ? 0.0f : 1.0f,
              gen_weight = o.objective == "discriminative" ? 0.0f : o.objective == "hybrid" ? o.alpha : 1.0f;
  int classes = 0;
  if (labeled) {
    for (const image_set* set : {&data_in.train, &data_in.test}) {
      if (set->count == 0) continue;
      if (set->labels.size() != std::size_t(set->count))
        throw data_error(set->source + ": no labels were read for these " + std::to_string(set->count) +
                         " images (a label file beside them, e.g. train-labels-idx1-ubyte)");
    }
    const int top = *std::max_element(data_in.train.labels.begin(), data_in.train.labels.end());
    classes = o.classes > 0 ? o.classes : top + 1;
    const bool one_class = std::all_of(data_in.train.labels.begin(), data_in.train.labels.end(),
                                       [&](std::uint8_t y) { return y == data_in.train.labels.front(); });
    if (classes < 2 || one_class)
      throw data_error(data_in.train.source + ": the training labels hold a single class (" + std::to_string(top) +
                       "); a classifier needs at least two");
    for (const image_set* set : {&data_in.train, &data_in.test})
      for (std::uint8_t y : set->labels)
        if (y >= classes)
          throw data_error(set->source + ": label " + std::to_string(y) + " is outside [0, " + std::to_string(classes) +
                           ") (the classes given)");
  }
  standardization stats;
  dataset prepared = o.binarize ? binarized(data_in) : gauss ? real_valued(data_in) : dataset{};
  const dataset& data = o.binarize || gauss ? prepared : data_in;
  const bool real = data.train.real();
  o.cd.nv = data.train.dim();
  if (!resuming && !o.init_from.empty()) {
    saved_model m = load_model(o.init_from);
    if (m.params.nv != o.cd.nv)
      throw data_error(o.init_from + ": the model has " + std::to_string(m.params.nv) + " visible units but the data has " +
                       std::to_string(o.cd.nv) + " pixels per image");
    if (m.params.visible != o.cd.visible)
      throw data_error(o.init_from + ": the model has " + to_string(m.params.visible) + " visible units, not " +
                       to_string(o.cd.visible));
    o.cd.nh = m.params.nh;
    start = std::move(m.params);
  }
  if (!resuming && o.start_params != nullptr) {  // in memory (a Python estimator's partial_fit)
    if (o.start_params->nv != o.cd.nv || o.start_params->visible != o.cd.visible)
      throw precondition_error("start_params: a " + std::to_string(o.start_params->nv) + "-unit " +
                               to_string(o.start_params->visible) + " visible layer does not fit the data's " +
                               std::to_string(o.cd.nv) + " " + to_string(o.cd.visible) + " values");
    o.cd.nh = o.start_params->nh;
    start = *o.start_params;
  }
  if (o.start_state != nullptr && o.start_params == nullptr)
    throw precondition_error("start_state needs start_params (the state belongs to parameters)");
  if (resuming && start.nv != o.cd.nv) throw data_error(opts_in.resume + ": the checkpoint does not fit the data's image size");
  validate(data, o);
  std::string why;
  std::unique_ptr<backend> be = make_backend(o.device, o.cd, o.batch, o.gpu, why, std::min(o.batch, data.train.count));
  if (gauss && o.standardize && !on_device) standardize_sets(prepared, *be, stats.mean, stats.sd);
  const int n = data.train.count, nv = o.cd.nv;
  const int eval_rows = o.eval_limit > 0 ? std::min(n, o.eval_limit) : n;
  backend::device_set dev_set;  // a CUDA array: summarised, standardised and attached on the device
  if (on_device) {
    dev_set = be->attach_device_values(data.train.device_values, n, nv, gauss && o.standardize, eval_rows);
    if (dev_set.nonfinite > 0)
      throw data_error(data.train.source + ": holds " + std::to_string(dev_set.nonfinite) + " NaN or infinite values");
    if (!gauss && !o.any_values && (dev_set.min < 0.0f || dev_set.max > 1.0f))
      throw data_error(data.train.source + ": holds values outside [0, 1] (" + std::to_string(dev_set.min) + " to " +
                       std::to_string(dev_set.max) + "), which Bernoulli visible units cannot model");
    if (gauss && o.standardize) {
      stats.mean = dev_set.mean;
      stats.sd = dev_set.sd;
      if (prepared.test.count > 0) prepared.test.values = model_inputs(prepared.test, false, stats.mean, stats.sd);
      prepared.test.borrowed = nullptr;
    }
  }
  const bool files = !o.out_dir.empty();  // none: train in memory (the caller keeps the result)
  remove_if_failed_empty created;  // destroyed after the lock (declared first): the lock file goes first
  std::optional<output_lock> lock;  // one writer per directory, for the whole run
  if (files) {
    if (prepare_out_dir(o.out_dir)) created.watch(o.out_dir);  // last check before the run creates anything
    lock.emplace(o.out_dir);
  }

  auto note = [&](const std::string& line) {
    if (o.on_note) o.on_note(line);
  };
  note(why);
  if (start.nv == 0 && on_device) {  // from the column means (of the standardised rows: 0)
    const std::vector<float> means = gauss && o.standardize ? std::vector<float>(nv, 0.0f) : dev_set.mean;
    start = gauss ? init_gaussian_params(nv, o.cd.nh, means.data(), 1, o.cd.seed, o.zero_init)
                  : init_params_from_values(nv, o.cd.nh, means.data(), 1, o.cd.seed, o.zero_init);
  }
  if (start.nv == 0)
    start = gauss ? init_gaussian_params(o.cd.nv, o.cd.nh, data.train.value_data(), data.train.count, o.cd.seed,
                                         o.zero_init)
          : real  ? init_params_from_values(o.cd.nv, o.cd.nh, data.train.value_data(), data.train.count, o.cd.seed,
                                            o.zero_init)
                  : init_params(o.cd.nv, o.cd.nh, data.train.pixels.data(), data.train.count, o.cd.seed, o.zero_init);
  if (labeled && !start.labeled()) {  // label weights ~ N(0, 0.01^2) as W's (their own draws), biases 0
    start.add_labels(classes);
    if (!o.zero_init) cpu::philox_stream(o.cd.seed ^ label_seed_salt).normal(start.label_w.data(), start.label_w.size(), 0.0f, 0.01f);
  }
  if (labeled && start.classes != classes)
    throw data_error("the model has " + std::to_string(start.classes) + " classes but the data " + std::to_string(classes));
  if (!labeled && start.labeled())
    throw precondition_error("the model has a label group: train it with labels (or start from a model without one)");
  be->set_params(start);
  if (!resuming && o.start_state != nullptr) be->set_state(*o.start_state);
  if (resuming) {
    be->set_state(resumed.state);
    note("resuming " + o.out_dir + " after epoch " + std::to_string(resumed.epoch) +
              (resumed.batch > 0 ? " and " + std::to_string(resumed.batch) + " batches of the next" : ""));
  }

  const float* train_rows = on_device ? dev_set.head.data() : data.train.value_data();  // evaluated each epoch
  const nlohmann::json config = config_json(o, data, be->name());
  const fs::path out(o.out_dir);
  std::vector<float> test_binary, base_vb, base_mean, base_sd;
  if (o.eval_every > 0 && gauss) {  // AIS from independent Gaussians fitted to the training data
    fit_independent_gaussians(data.train.value_data(), n, nv, base_mean, base_sd);
  } else if (o.eval_every > 0) {
    const image_set& held = data.test.count > 0 ? data.test : data.train;
    test_binary = binarize(held.pixels.data(), held.pixels.size());
    const auto train_binary = binarize(data.train.pixels.data(), data.train.pixels.size());
    base_vb = base_rate_bias(train_binary.data(), n, nv);
  }

  train_result res;
  res.backend_name = be->name();
  res.history = resumed.history;
  if (files && resuming) {
    // What a kill can leave behind: temporaries of interrupted atomic writes (this run holds the
    // directory's lock, so none is another's), and a metrics.csv ahead of the checkpoint (written,
    // then the checkpoint's write failed): rewritten from the checkpoint's own history.
    lock->remove_stale_temporaries();
    write_file_atomic((out / "metrics.csv").string(), metrics_csv(res.history));
  }
  const double seconds_before = res.history.empty() ? 0.0 : res.history.back().seconds;
  const auto t0 = clock_type::now();
  long seen = resuming ? resumed.samples_seen : 0;
  auto evaluate_epoch = [&](int epoch, double rate, double lr, double mom) {
    epoch_metrics m;
    m.epoch = epoch;
    m.samples_seen = seen;
    m.samples_per_s = rate;
    m.lr = lr;
    m.momentum = mom;
    m.train = real ? be->evaluate_values(train_rows, eval_rows)
                   : be->evaluate(data.train.pixels.data(), eval_rows);
    check_finite(m.train, epoch, "training");
    if (data.test.count > 0) {
      m.test = real ? be->evaluate_values(data.test.value_data(), data.test.count)
                    : be->evaluate(data.test.pixels.data(), data.test.count);
      check_finite(m.test, epoch, "held-out");
    }
    if (labeled) {
      const model_params p = be->params();
      std::tie(m.train_accuracy, m.train_class_ll) =
          classify_rows(p, data.train, real ? train_rows : nullptr, eval_rows);
      if (data.test.count > 0)
        std::tie(m.test_accuracy, m.test_class_ll) =
            classify_rows(p, data.test, real ? data.test.value_data() : nullptr, data.test.count);
    }
    if (o.eval_every > 0 && epoch > 0 && epoch % o.eval_every == 0) {
      ais_options a = o.ais;
      a.seed = o.cd.seed ^ 0xa15u;
      const model_params p = be->params();
      if (gauss) {  // on the CPU (the backend that trains Gaussian units), in the model's units
        m.ais_log_z = ais_log_z_gaussian(p, base_mean, base_sd, a).log_z;
        const image_set& held = data.test.count > 0 ? data.test : data.train;
        m.test_log_likelihood = mean_log_likelihood(p, held.value_data(), held.count, m.ais_log_z);
      } else {
        m.ais_log_z = be->ais_log_z(base_vb, a).log_z;
        const int rows = int(test_binary.size() / nv);
        m.test_log_likelihood = mean_log_likelihood(p, test_binary.data(), rows, m.ais_log_z);
      }
      note("epoch " + std::to_string(epoch) + ": AIS log Z " + std::to_string(m.ais_log_z) +
                ", held-out log-likelihood " + std::to_string(m.test_log_likelihood) + " nats");
    }
    m.seconds = seconds_before + since(t0);
    res.history.push_back(m);
    if (files) write_file_atomic((out / "metrics.csv").string(), metrics_csv(res.history));
    return m;
  };

  if (!resuming) {
    evaluate_epoch(0, 0.0, lr_of(o, 1), momentum_of(o, 1));
    if (files) save_checkpoint((out / "model.safetensors").string(), *be, 0, 0, seen, config, data.name, res.history, stats);
  }
  if (on_device) {
    // attached above
  } else if (real) {
    be->attach_training_values(data.train.value_data(), n, nv);
  } else {
    be->attach_training_data(data.train.pixels.data(), n, nv);
  }
  if (labeled) be->attach_labels(data.train.labels.data(), n);
  std::vector<int> order(n);
  auto early_stopped = [&] {
    if (labeled) return o.early_stop > 0 && data.test.count > 0 && epochs_since_best_accuracy(res.history) >= o.early_stop;
    return o.early_stop > 0 && data.test.count > 0 && gap_growth(res.history) >= o.early_stop;
  };
  // A run that had stopped early (and was resumed only to finish its pictures) trains no further.
  const bool stopped_before = resuming && resumed.batch == 0 && early_stopped();
  // filters-epoch-NNN.png every snapshot_every epochs (not the last: filters.png is that). A kill after
  // an epoch's checkpoint and before its snapshot lost it: the resumed run draws it from the checkpoint.
  auto wants_snapshot = [&](int e) {
    return files && o.snapshot_every > 0 && e > 0 && e % o.snapshot_every == 0 && e != o.epochs && data.train.rows > 1;
  };
  auto snapshot_path = [&](int e) {
    char name[64];
    std::snprintf(name, sizeof name, "filters-epoch-%03d.png", e);
    return (out / name).string();
  };
  if (resuming && resumed.batch == 0 && wants_snapshot(resumed.epoch) && !fs::exists(snapshot_path(resumed.epoch)))
    write_png(snapshot_path(resumed.epoch), tile_filters(be->params(), data.train.rows, data.train.cols));
  for (int e = resuming ? resumed.epoch + 1 : 1; e <= o.epochs && !stopped_before; ++e) {
    const double lr = lr_of(o, e), mom = momentum_of(o, e);
    be->set_rates(float(lr), float(mom));
    const int full = o.tutorial_batches ? (n - 1) / o.batch : n / o.batch;
    const int nbatches = o.tutorial_batches || n % o.batch == 0 ? full : full + 1;
    if (o.tutorial_batches) {
      for (int i = 0; i < n; ++i) order[i] = i;
    } else {
      epoch_permutation(o.cd.seed, e, order);
    }
    const auto te = clock_type::now();
    be->reset_train_error();
    long epoch_samples = 0;
    const int first_batch = resuming && e == resumed.epoch + 1 ? resumed.batch : 0;
    for (int b = first_batch; b < nbatches; ++b) {
      const int first = b * o.batch, rows = std::min(o.batch, n - first);
      if (labeled)
        be->train_labeled(order.data() + first, rows, disc_weight, gen_weight);
      else
        be->train_indices(order.data() + first, rows);
      seen += rows;
      epoch_samples += rows;
      if (o.stop != nullptr && o.stop->load() && b + 1 < nbatches) {
        const std::string where = "interrupted in epoch " + std::to_string(e) + " after batch " + std::to_string(b + 1) +
                                  " of " + std::to_string(nbatches);
        if (!files) throw interrupted(where + "; the last update's parameters are kept", "", be->params(), be->state());
        save_checkpoint((out / "model.safetensors").string(), *be, e - 1, b + 1, seen, config, data.name, res.history, stats);
        throw interrupted(where + "; the checkpoint in " + o.out_dir + " is saved", o.out_dir, be->params(), be->state());
      }
      if (o.on_batch) {
        batch_report r;
        r.epoch = e;
        r.epochs = o.epochs;
        r.batch = b + 1;
        r.batches = nbatches;
        r.samples_per_s = epoch_samples / std::max(since(te), 1e-9);
        r.elapsed_s = since(t0);
        r.error = [&] { return labeled && disc_weight > 0 ? be->train_class_loss() : be->train_error(); };
        o.on_batch(r);
      }
    }
    be->train_error();  // waits for the epoch's last update, so the rate below counts all of it
    const double rate = double(epoch_samples) / std::max(since(te), 1e-9);
    const epoch_metrics m = evaluate_epoch(e, rate, lr, mom);
    if (files) save_checkpoint((out / "model.safetensors").string(), *be, e, 0, seen, config, data.name, res.history, stats);
    if (o.stop != nullptr && o.stop->load() && e < o.epochs)
      throw interrupted("interrupted after epoch " + std::to_string(e) +
                            (files ? "; the checkpoint in " + o.out_dir + " is saved" : "; its parameters are kept"),
                        o.out_dir, be->params(), be->state());
    if (o.on_epoch) o.on_epoch(m, o.epochs);
    if (o.on_epoch_params) o.on_epoch_params(m, be->params());
    if (wants_snapshot(e)) write_png(snapshot_path(e), tile_filters(be->params(), data.train.rows, data.train.cols));
    if (early_stopped()) {
      note(labeled ? "early stop after epoch " + std::to_string(e) + ": held-out accuracy has not improved for " +
                         std::to_string(epochs_since_best_accuracy(res.history)) + " epochs (now " +
                         std::to_string(m.test_accuracy) + ")"
                   : "early stop after epoch " + std::to_string(e) + ": the free-energy gap grew " +
                         std::to_string(gap_growth(res.history)) + " epochs in a row (now " +
                         std::to_string(m.test.free_energy - m.train.free_energy) + ")");
      break;
    }
  }

  res.params = be->params();
  res.state = be->state();
  if (o.validation > 0 && labeled && data_given.test.count > 0) {  // the test set, once, by the final model
    const std::vector<float> v = model_inputs(data_given.test, o.binarize, stats.mean, stats.sd);
    std::tie(res.test_accuracy, res.test_class_ll) = classify_rows(res.params, data_given.test, v.data(),
                                                                   data_given.test.count);
    res.test_count = data_given.test.count;
  }
  res.data_mean = stats.mean;
  res.data_sd = stats.sd;
  if (files) {
    const std::string left_out = write_pictures(out, res.params, data, res.history);
    if (!left_out.empty()) note(left_out);
  }
  return res;
}
}  // namespace

}  // namespace rbm
