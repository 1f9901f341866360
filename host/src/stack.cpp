// Deep Belief Networks: greedy layer-wise training over rbm::train, propagation between the layers,
// the stack's model file.
#include "rbm/host/stack.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>

#include "rbm/error.hpp"
#include "rbm/host/categorical_data.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/optimizer_json.hpp"
#include "rbm/host/output_lock.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "stack_device.hpp"
#include "train_parts.hpp"

namespace rbm {
namespace fs = std::filesystem;

// The fine-tuning settings as a stack's plan (stack.json) records them, for its resume.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(fine_tune_options, epochs, batch, method, lr, momentum, weight_decay, patience)

namespace {

constexpr std::uint64_t propagate_seed_salt = 0x5eed5ac4ull;  // the draws of --propagate sample
constexpr std::uint64_t down_normals_salt = 0x6a055ull;      // a down pass's normals, apart from its uniforms

// Whether layers [0, count) all have Bernoulli hidden units (the GPU's propagation computes sigmoids).
bool bernoulli_below(const stack_model& m, int count) {
  for (int i = 0; i < count; ++i)
    if (m.layers[std::size_t(i)].hidden != unit_kind::bernoulli) return false;
  return true;
}

template <class T>
T per_layer(const std::vector<T>& list, T base, int layer, int layers, const char* what) {
  if (list.empty()) return base;
  if (list.size() == 1) return list[0];
  if (int(list.size()) != layers)
    throw precondition_error(std::string("the ") + what + " list has " + std::to_string(list.size()) +
                             " values for " + std::to_string(layers) + " layers (give one, or one per layer)");
  return list[std::size_t(layer)];
}

std::string layer_dir(const std::string& dir, int layer) {
  return (fs::path(dir) / ("layer" + std::to_string(layer + 1))).string();
}

// A set of real values [count, dim] (a layer's input), the labels kept.
image_set value_set(std::vector<float> values, int count, int dim, const image_set& like) {
  image_set s;
  s.values = std::move(values);
  s.count = count;
  s.rows = 1;
  s.cols = dim;
  s.labels = like.labels;
  s.source = like.source;
  return s;
}


// The layers' metrics.csv under one header (the widest: the top's label columns come last), a
// `layer` column first; rows with fewer columns are padded with empty fields.
std::string with_layer_column(const std::vector<std::string>& csvs) {
  auto fields = [](const std::string& line) { return std::count(line.begin(), line.end(), ',') + 1; };
  std::string header;
  for (const auto& c : csvs) {
    const std::string h = c.substr(0, c.find('\n'));
    if (fields(h) > fields(header)) header = h;
  }
  std::string out = "layer," + header + "\n";
  for (std::size_t i = 0; i < csvs.size(); ++i) {
    std::istringstream in(csvs[i]);
    std::string line;
    std::getline(in, line);  // its header
    while (std::getline(in, line))
      out += std::to_string(i + 1) + "," + line + std::string(std::size_t(fields(header) - fields(line)), ',') + "\n";
  }
  return out;
}

void check_plan(const stack_options& o) {
  if (o.hidden.empty()) throw precondition_error("a stack needs at least one layer (hidden sizes)");
  for (int h : o.hidden)
    if (h <= 0) throw precondition_error("every layer needs a positive number of hidden units (got " + std::to_string(h) + ")");
  if (o.base.init_from.size() || o.base.start_params)
    throw precondition_error("a stack starts from fresh layers (init_from is for a single RBM)");
  for (int i = 0; i < int(o.hidden.size()); ++i) {  // the lists' lengths and values, the kinds' joins
    const train_options t = layer_options(o, i);
    if (i > 0 && t.cd.visible == unit_kind::gaussian && t.cd.hidden != unit_kind::bernoulli)
      throw precondition_error("layer " + std::to_string(i + 1) + ": above layer " + std::to_string(i) + "'s " +
                               to_string(layer_options(o, i - 1).cd.hidden) + " hidden units its visible units are "
                               "Gaussian, which take Bernoulli hidden units (not " + to_string(t.cd.hidden) +
                               "): a continuous hidden layer has a Bernoulli one above it");
  }
  detail::check_tempering(layer_options(o, int(o.hidden.size()) - 1));  // the top's, before any layer trains
  if (o.fine_tune.epochs < 0) throw precondition_error("fine-tuning epochs must be non-negative");
  if (o.fine_tune.epochs > 0 && !o.base.labels)
    throw precondition_error("fine-tuning trains a classifier: it needs labels (a label group on the top layer)");
}

// The greedy stack res.model fine-tuned as a classifier into res.model.tuned, on the bottom layer's
// training rows, early stopping on the validation rows where the stack holds some out.
void fine_tune_stack(stack_result& res, const dataset& bottom, bool validation, const stack_options& o,
                     const std::string& dir) {
  if (bottom.train.device_values != nullptr)
    throw precondition_error("fine-tuning reads the training rows in host memory (these are in GPU memory)");
  const train_options first = layer_options(o, 0);
  auto rows = [&](const image_set& s, std::vector<float>& x, std::vector<int>& y) {
    x = model_inputs(s, first.binarize, res.model.data_mean, res.model.data_sd);
    y.assign(s.labels.begin(), s.labels.end());
    return labelled_rows{x.data(), y.data(), nullptr, s.count};
  };
  std::vector<float> x, hx;
  std::vector<int> y, hy;
  const labelled_rows train_rows = rows(bottom.train, x, y);
  const labelled_rows held = validation ? rows(bottom.test, hx, hy) : labelled_rows{};
  fine_tune_options f = o.fine_tune;
  f.seed = first.cd.seed;
  f.stop = o.base.stop;
  f.device = o.base.device;
  f.gpu = o.base.gpu;
  res.model.tuned = res.model.layers;
  try {
    res.fine_tune_history = fine_tune_classifier(res.model.tuned, train_rows, held, f);
  } catch (const interrupted& e) {  // the stack resumes as a whole: the greedy layers are done
    throw interrupted(std::string("fine-tuning: ") + e.what(), dir);
  }
}

std::string fine_tune_csv(const std::vector<fine_tune_epoch>& h) {
  std::ostringstream s;
  s << "epoch,train_loss,held_out_loss,held_out_accuracy,seconds\n";
  s.precision(9);
  for (const fine_tune_epoch& e : h)
    s << e.epoch << ',' << e.train_loss << ',' << e.held_out_loss << ',' << e.held_out_accuracy << ',' << e.seconds << '\n';
  return s.str();
}

}  // namespace

model_params projected(const stack_model& m, int layer) {
  RBM_EXPECTS(layer >= 0 && layer < int(m.layers.size()));
  model_params p = m.layers[0];
  for (int i = 1; i <= layer; ++i) {
    const model_params& q = m.layers[std::size_t(i)];
    std::vector<float> w(std::size_t(p.nv) * q.nh);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.nv, q.nh, p.nh, 1.0f, p.w.data(), p.nh, q.w.data(), q.nh,
                0.0f, w.data(), q.nh);
    p.nh = q.nh;
    p.w = std::move(w);
    p.hb = q.hb;
  }
  return p;
}

train_options layer_options(const stack_options& o, int layer) {
  const int layers = int(o.hidden.size());
  RBM_EXPECTS(layer >= 0 && layer < layers);
  train_options t = o.base;
  t.cd.nh = o.hidden[std::size_t(layer)];
  t.epochs = per_layer(o.epochs, o.base.epochs, layer, layers, "epochs");
  t.cd.k = per_layer(o.k, o.base.cd.k, layer, layers, "k");
  t.cd.lr = per_layer(o.lr, o.base.cd.lr, layer, layers, "lr");
  const int pcd = per_layer(o.pcd, int(o.base.cd.pcd), layer, layers, "pcd");
  if (t.epochs <= 0 || t.cd.k <= 0 || !(t.cd.lr > 0))
    throw precondition_error("layer " + std::to_string(layer + 1) + " needs positive epochs, k and lr");
  if (pcd != 0 && pcd != 1)
    throw precondition_error("layer " + std::to_string(layer + 1) + ": pcd is 0 or 1 (got " + std::to_string(pcd) + ")");
  t.cd.pcd = pcd == 1;
  t.validation = 0;  // the stack splits the data once (train_stack)
  t.cd.seed = o.base.cd.seed + std::uint64_t(layer);  // each layer its own draws
  t.cd.hidden = per_layer(o.hidden_units, o.base.cd.hidden, layer, layers, "hidden units");
  const bool top = layer == layers - 1;
  if (!top) {
    t.labels = false;
    t.objective = "generative";
    t.classes = 0;
    t.early_stop = o.base.labels ? 0 : o.base.early_stop;  // accuracy is the top's to watch
  }
  if (layer > 0) {  // the hidden units below as data: Bernoulli ones, or Gaussian with their variance 1
    const unit_kind below = per_layer(o.hidden_units, o.base.cd.hidden, layer - 1, layers, "hidden units");
    t.cd.visible = below == unit_kind::bernoulli ? unit_kind::bernoulli : unit_kind::gaussian;
    t.cd.visible_sample = t.cd.visible == unit_kind::gaussian && replicas_of(t.cd) > 1;  // tempering draws states
    t.cd.learn_sigma = false;
    t.standardize = false;
    t.binarize = false;
  }
  t.init_from.clear();
  t.start_params = nullptr;
  t.start_state = nullptr;
  t.resume.clear();
  t.out_dir.clear();
  return t;
}

std::vector<float> propagate_up(const model_params& p, const float* values, int rows, bool sample, std::uint64_t seed) {
  RBM_EXPECTS(values != nullptr && rows >= 0);
  std::vector<float> h(std::size_t(rows) * p.nh);
  if (rows == 0) return h;
  if (sample && p.hidden != unit_kind::bernoulli) {  // the kind's draw at each unit's total input
    RBM_EXPECTS(!p.gaussian());  // continuous hidden units have no Gaussian visible units (stack_model)
    std::vector<float> u(h.size()), means(h.size());
    cpu::philox_uniforms(seed ^ propagate_seed_salt, 0, u.data(), u.size());
    cpu_hidden_pre(p, values, rows, means.data());
    cpu::hidden_sample_rows(p.hidden, means.data(), p.hb.data(), u.data(), rows, p.nh, h.data());
    return h;
  }
  cpu_hidden_probs(p, values, rows, h.data());  // v / sigma for a Gaussian bottom, as propagate_rows
  if (sample) {
    std::vector<float> u(h.size());
    cpu::philox_uniforms(seed ^ propagate_seed_salt, 0, u.data(), u.size());
    cpu::sample(h.data(), u.data(), h.size(), h.data());
  }
  return h;
}

std::vector<float> down_pass(const stack_model& m, const float* top, int rows, std::uint64_t seed) {
  RBM_EXPECTS(!m.layers.empty() && top != nullptr && rows >= 0);
  const int layers = int(m.layers.size());
  std::vector<float> x(top, top + std::size_t(rows) * m.layers.back().nv);
  std::vector<float> u;
  std::uint64_t at = 0;
  for (int l = layers - 2; l >= 0; --l) {  // x holds means of layer l's hidden units: draw, then go down
    u.resize(x.size());
    const model_params& above = m.layers[std::size_t(l) + 1];
    if (above.gaussian()) {  // over continuous hidden units: mean + sigma z
      cpu::philox_normals(seed ^ propagate_seed_salt ^ down_normals_salt, at, u.data(), u.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += above.sigma[i % std::size_t(above.nv)] * u[i];
    } else {
      cpu::philox_uniforms(seed ^ propagate_seed_salt, at, u.data(), u.size());
      cpu::sample(x.data(), u.data(), x.size(), x.data());
    }
    at += u.size();
    const model_params& p = m.layers[std::size_t(l)];
    std::vector<float> below(std::size_t(rows) * p.nv);
    cpu_visible_probs(p, x.data(), rows, below.data());
    x = std::move(below);
  }
  return x;
}

std::vector<float> features_at(const stack_model& m, const float* values, int rows, int layer) {
  RBM_EXPECTS(layer >= 0 && layer <= int(m.layers.size()));
  std::vector<float> v(values, values + std::size_t(rows) * (m.layers.empty() ? 0 : m.layers[0].nv));
  for (int i = 0; i < layer; ++i) v = propagate_up(m.layers[std::size_t(i)], v.data(), rows, false, 0);
  return v;
}

std::vector<float> features_at(const stack_model& m, const float* values, int rows, int layer,
                               const std::string& device) {
  if (!gpu_chosen(device) || layer == 0 || rows == 0 || !bernoulli_below(m, layer))
    return features_at(m, values, rows, layer);
  RBM_EXPECTS(layer > 0 && layer <= int(m.layers.size()));
  detail::device_rows x;
  for (int i = 0; i < layer; ++i)  // the rows stay on the device between layers
    x = detail::device_rows::propagate(m.layers[std::size_t(i)], i == 0 ? values : x.data(), i > 0, rows, false, 0,
                                       gpu_options{});
  return x.to_host();
}

namespace {

// A resumed stack's plan (stack.json): the original settings, with what a resumed run may change from `in`.
stack_options read_plan(const stack_options& in, const fs::path& plan_path, const std::string& dir) {
  stack_options o = in;
  std::ifstream f(plan_path);
  if (!f) throw data_error(plan_path.string() + ": no stack plan here (is " + dir + " a stack's directory?)");
  nlohmann::json j;
  try {
    f >> j;
    o.hidden = j.at("hidden").get<std::vector<int>>();
    o.epochs = j.at("epochs").get<std::vector<int>>();
    o.k = j.at("k").get<std::vector<int>>();
    o.lr = j.at("lr").get<std::vector<float>>();
    if (j.contains("pcd")) o.pcd = j.at("pcd").get<std::vector<int>>();
    o.hidden_units.clear();  // a plan from before hidden kinds: base's (Bernoulli)
    for (const std::string& name : j.value("hidden_units", std::vector<std::string>())) {
      unit_kind k;
      if (!parse_unit_kind(name, k, layer_side::hidden)) throw data_error(plan_path.string() + ": hidden units '" + name + "'");
      o.hidden_units.push_back(k);
    }
    o.propagate_samples = j.at("propagate").get<std::string>() == "samples";
    if (j.contains("fine_tune")) from_json(j.at("fine_tune"), o.fine_tune);
    train_options keep = in.base;
    keep.epochs = 0;  // the plan's
    o.base = options_from_json(j.at("base").dump(), keep);
  } catch (const nlohmann::json::exception& e) {
    throw data_error(plan_path.string() + ": not a stack plan (" + e.what() + ")");
  }
  return o;
}

// stack.json: every layer's settings spelt out, the propagation, fine-tuning and the base options.
void write_plan(const stack_options& o, const fs::path& plan_path) {
  const int layers = int(o.hidden.size());
  nlohmann::json j;
  j["hidden"] = o.hidden;
  std::vector<int> epochs, k, pcd;
  std::vector<float> lr;
  std::vector<std::string> kinds;
  for (int i = 0; i < layers; ++i) {
    const train_options t = layer_options(o, i);
    epochs.push_back(t.epochs);
    k.push_back(t.cd.k);
    lr.push_back(t.cd.lr);
    pcd.push_back(t.cd.pcd ? 1 : 0);
    kinds.push_back(to_string(t.cd.hidden));
  }
  j["epochs"] = epochs;
  j["k"] = k;
  j["lr"] = lr;
  j["pcd"] = pcd;
  j["hidden_units"] = kinds;
  j["propagate"] = o.propagate_samples ? "samples" : "probabilities";
  if (o.fine_tune.epochs > 0) j["fine_tune"] = o.fine_tune;
  j["base"] = nlohmann::json::parse(options_json(o.base));
  write_file_atomic(plan_path.string(), j.dump(1) + "\n");
}

// Layer i trained as a run of its own (in dir/layer<i+1>, resumed where its checkpoint is), on `input`.
train_result train_layer(const stack_options& o, int i, const dataset& input, const std::string& dir, bool resuming,
                         bool rows_on_gpu) {
  const int layers = int(o.hidden.size());
  train_options t = layer_options(o, i);
  t.on_note = o.base.on_note;
  t.on_warning = o.base.on_warning;
  t.on_batch = o.base.on_batch;
  t.on_epoch = o.base.on_epoch;
  t.on_epoch_params = o.base.on_epoch_params;
  t.stop = o.base.stop;
  if (rows_on_gpu) t.device = "cuda";  // its rows are on that GPU
  if (!dir.empty()) {
    t.out_dir = layer_dir(dir, i);
    if (resuming && fs::exists(fs::path(t.out_dir) / "model.safetensors")) t.resume = t.out_dir;
  }
  if (o.on_layer) o.on_layer(i, layers);
  try {
    return train(input, t);
  } catch (const interrupted& e) {  // the stack resumes as a whole, from its own directory
    throw interrupted("layer " + std::to_string(i + 1) + " of " + std::to_string(layers) + ": " + e.what(),
                      dir.empty() ? std::string() : dir, e.params(), e.state());
  }
}

// The next layer's input: layer i's hidden units for `input`'s training and held-out rows, computed on
// the GPU where `gpu` says (the training rows then stay there, in `on_gpu`), else on the CPU (training
// rows that are in GPU memory, `input_on_gpu`, copied back first).
dataset propagated(const stack_options& o, int i, const dataset& input, const train_result& r, bool gpu,
                   const detail::device_rows& input_on_gpu, detail::device_rows& on_gpu) {
  const train_options t = layer_options(o, i);
  dataset next;  // named by the caller
  for (int s = 0; s < 2; ++s) {
    const image_set& from = s == 0 ? input.train : input.test;
    image_set& to = s == 0 ? next.train : next.test;
    if (from.count == 0) continue;
    const bool from_device = from.device_values != nullptr;
    std::vector<float> host;  // the rows as the layer reads them, where they must be made on the host
    if (i == 0)
      host = model_inputs(from, t.binarize, r.data_mean, r.data_sd);
    else if (from_device && !gpu)
      host = input_on_gpu.to_host();
    const float* x = !host.empty() ? host.data() : from_device ? from.device_values : from.value_data();
    const std::uint64_t seed = t.cd.seed + std::uint64_t(s);
    if (!gpu) {
      to = value_set(propagate_up(r.params, x, from.count, o.propagate_samples, seed), from.count, r.params.nh, from);
      continue;
    }
    detail::device_rows rows = detail::device_rows::propagate(r.params, x, from_device, from.count, o.propagate_samples,
                                                              seed ^ propagate_seed_salt, t.gpu);
    if (s == 0) {  // stays on the GPU for the next layer
      to = value_set({}, from.count, r.params.nh, from);
      to.device_values = rows.data();
      on_gpu = std::move(rows);
    } else {
      to = value_set(rows.to_host(), from.count, r.params.nh, from);
    }
  }
  return next;
}

// The test set, once, by the finished stack (a validation split kept it out of training).
void classify_test_set(stack_result& res, const dataset& data, const stack_options& o) {
  train_result& top = res.layers.back();
  const std::vector<float> v = model_inputs(data.test, layer_options(o, 0).binarize, res.model.data_mean, res.model.data_sd);
  const stack_model classifier = classifier_of(res.model);
  const std::vector<float> x = features_at(classifier, v.data(), data.test.count, int(res.model.layers.size()) - 1);
  image_set rows = value_set({}, data.test.count, classifier.layers.back().nv, data.test);
  std::tie(top.test_accuracy, top.test_class_ll) = classify_rows(classifier.layers.back(), rows, x.data(), data.test.count);
  top.test_count = data.test.count;
}

// The stack's own files: model.safetensors (every layer, tuned ones too), metrics.csv with a layer
// column, fine_tune.csv, each layer's filters projected to pixels.
void write_stack_files(const stack_result& res, const dataset& data, const stack_options& o, const std::string& dir,
                       const std::vector<std::string>& csvs) {
  std::map<std::string, std::string> meta{
      {"propagate", o.propagate_samples ? "samples" : "probabilities"},
      {"dataset", data.name},
      {"config", nlohmann::json{{"image_rows", data.train.rows},
                                {"image_cols", data.train.cols},
                                {"binarize", layer_options(o, 0).binarize}}.dump()}};
  save_stack((fs::path(dir) / "model.safetensors").string(), res.model, meta);
  write_file_atomic((fs::path(dir) / "metrics.csv").string(), with_layer_column(csvs));
  if (!res.fine_tune_history.empty())
    write_file_atomic((fs::path(dir) / "fine_tune.csv").string(), fine_tune_csv(res.fine_tune_history));
  if (data.train.rows > 1)
    for (int i = 0; i < int(res.model.layers.size()); ++i)
      write_png((fs::path(dir) / ("filters-layer" + std::to_string(i + 1) + ".png")).string(),
                tile_filters(projected(res.model, i), data.train.rows, data.train.cols));
}

}  // namespace

stack_result train_stack(const dataset& data, const stack_options& in) {
  const bool resuming = !in.base.resume.empty();
  const std::string dir = resuming ? in.base.resume : in.base.out_dir;
  const fs::path plan_path = fs::path(dir) / "stack.json";
  const stack_options o = resuming ? read_plan(in, plan_path, dir) : in;
  check_plan(o);
  const int layers = int(o.hidden.size());
  std::optional<output_lock> lock;  // one writer per stack directory (each layer's run locks its own)
  if (!dir.empty() && resuming) {
    lock.emplace(dir);
    lock->remove_stale_temporaries();  // a kill mid-write of the stack's own files
  }
  if (!dir.empty() && !resuming) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw data_error(dir + ": cannot create the output directory (" + ec.message() + ")");
    lock.emplace(dir);
    write_plan(o, plan_path);
  }
  // A validation split, once for the whole stack: the last N training rows are every layer's held-out set.
  const int validation = o.base.validation;
  const dataset split = validation_split(data, validation);
  const dataset& bottom = validation > 0 ? split : data;

  stack_result res;
  dataset layer_data;          // layer i's input (for i > 0)
  detail::device_rows on_gpu;  // its training rows, when they are in GPU memory
  std::vector<std::string> csvs;
  dataset states_one_hot;      // a categorical bottom layer's rows as it reads them (one-hot)
  const dataset* bottom_rows = &bottom;
  for (int i = 0; i < layers; ++i) {
    res.layers.push_back(train_layer(o, i, i == 0 ? bottom : layer_data, dir, resuming, on_gpu.data() != nullptr));
    const train_result& r = res.layers.back();
    res.model.layers.push_back(r.params);
    if (i == 0) {
      res.model.data_mean = r.data_mean;
      res.model.data_sd = r.data_sd;
      if (r.params.categorical()) {  // trained from the integer states: the layers above read them one-hot
        states_one_hot = one_hot(bottom, r.params.states);
        bottom_rows = &states_one_hot;
      }
    }
    const dataset& input = i == 0 ? *bottom_rows : layer_data;
    csvs.push_back(metrics_csv(r.history));
    if (i + 1 == layers) break;
    const auto t0 = std::chrono::steady_clock::now();
    const bool gpu = detail::device_rows::built() && r.backend_name.rfind("cuda", 0) == 0 &&
                     r.params.hidden == unit_kind::bernoulli;  // the GPU's propagation computes sigmoids
    res.propagated_on_gpu.push_back(gpu);
    detail::device_rows next_on_gpu;
    dataset next = propagated(o, i, input, r, gpu, on_gpu, next_on_gpu);
    next.name = data.name + " (layer " + std::to_string(i + 2) + " input)";
    layer_data = std::move(next);
    on_gpu = std::move(next_on_gpu);  // the rows the layer below read are freed only now
    res.propagate_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (o.fine_tune.epochs > 0) fine_tune_stack(res, *bottom_rows, validation > 0, o, dir);
  if (validation > 0 && res.model.layers.back().labeled() && data.test.count > 0)
    classify_test_set(res, res.model.layers.front().categorical() ? one_hot(data, res.model.layers.front().states) : data, o);
  if (o.on_layer) o.on_layer(layers, layers);
  if (!dir.empty()) write_stack_files(res, data, o, dir, csvs);
  return res;
}

namespace {

// Layer `i` (from 0) of the file's greedy layers ("layer<i+1>.") or of its fine-tuned ones
// ("tuned.layer<i+1>."): a single model's tensors and metadata under that prefix.
std::string layer_prefix(std::size_t i, bool tuned) { return (tuned ? "tuned.layer" : "layer") + std::to_string(i + 1) + "."; }

void put_layer(tensor_file& f, const std::string& prefix, const model_params& p) {
  tensor_file one;
  one.tensors["W"] = {{p.nv, p.nh}, p.w};
  one.tensors["vb"] = {{p.nv}, p.vb};
  one.tensors["hb"] = {{p.nh}, p.hb};
  add_unit_tensors(one, p);
  for (auto& [name, t] : one.tensors) f.tensors[prefix + name] = std::move(t);
  for (auto& [key, value] : one.metadata) f.metadata[prefix + key] = value;
}

model_params take_layer(const tensor_file& f, const std::string& prefix, const std::string& name) {
  tensor_file one;
  for (const auto& [key, t] : f.tensors)
    if (key.rfind(prefix, 0) == 0) one.tensors[key.substr(prefix.size())] = t;
  for (const auto& [key, value] : f.metadata)
    if (key.rfind(prefix, 0) == 0) one.metadata[key.substr(prefix.size())] = value;
  return model_from_tensors(name, std::move(one)).params;
}

}  // namespace

void save_stack(const std::string& path, const stack_model& m, const std::map<std::string, std::string>& meta) {
  RBM_EXPECTS(!m.layers.empty() && (m.tuned.empty() || m.tuned.size() == m.layers.size()));
  tensor_file f;
  f.metadata = meta;
  f.metadata["layers"] = std::to_string(m.layers.size());
  for (std::size_t i = 0; i < m.layers.size(); ++i) put_layer(f, layer_prefix(i, false), m.layers[i]);
  for (std::size_t i = 0; i < m.tuned.size(); ++i) put_layer(f, layer_prefix(i, true), m.tuned[i]);
  if (!m.tuned.empty()) f.metadata["fine_tuned"] = "classifier";
  if (!m.data_mean.empty()) {
    f.tensors["data_mean"] = {{std::int64_t(m.data_mean.size())}, m.data_mean};
    f.tensors["data_std"] = {{std::int64_t(m.data_sd.size())}, m.data_sd};
  }
  write_tensors(path, f);
}

bool is_stack_file(const std::string& path) { return read_tensors(path).metadata.count("layers") > 0; }

stack_model load_stack(const std::string& path) {
  tensor_file f = read_tensors(path);
  stack_model m;
  auto stats = [&](stack_model& s) {
    if (f.tensors.count("data_mean") && f.tensors.count("data_std")) {
      s.data_mean = f.tensors["data_mean"].data;
      s.data_sd = f.tensors["data_std"].data;
    }
  };
  m.metadata = f.metadata;
  const auto count = f.metadata.find("layers");
  if (count == f.metadata.end()) {  // a single RBM
    stats(m);
    m.layers.push_back(model_from_tensors(path, std::move(f)).params);
    return m;
  }
  int layers = 0;
  try {
    layers = std::stoi(count->second);
  } catch (const std::exception&) {
  }
  if (layers < 1 || layers > 64) throw data_error(path + ": metadata 'layers' must be 1 to 64 (got '" + count->second + "')");
  stats(m);
  for (int i = 0; i < layers; ++i) {
    const std::string name = path + " (layer " + std::to_string(i + 1) + ")";
    model_params p = take_layer(f, layer_prefix(std::size_t(i), false), name);
    if (i > 0 && p.nv != m.layers.back().nh)
      throw data_error(name + ": has " + std::to_string(p.nv) + " visible units but the layer below has " +
                       std::to_string(m.layers.back().nh) + " hidden units");
    if (i > 0 && p.categorical()) throw data_error(name + ": categorical visible units above the bottom layer");
    if (i > 0 && p.gaussian() != (m.layers.back().hidden != unit_kind::bernoulli))
      throw data_error(name + ": " + to_string(p.visible) + " visible units above the " +
                       to_string(m.layers.back().hidden) + " hidden units of the layer below (a layer above Bernoulli "
                       "hidden units has Bernoulli visible units, above Gaussian or ReLU ones Gaussian visible units)");
    if (p.gaussian() && p.hidden != unit_kind::bernoulli)
      throw data_error(name + ": Gaussian visible units with " + to_string(p.hidden) + " hidden units (unbounded below)");
    if (i + 1 < layers && p.labeled()) throw data_error(name + ": a label group below the top layer");
    m.layers.push_back(std::move(p));
  }
  for (std::size_t i = 0; f.metadata.count("fine_tuned") && i < m.layers.size(); ++i) {
    const std::string name = path + " (fine-tuned layer " + std::to_string(i + 1) + ")";
    model_params p = take_layer(f, layer_prefix(i, true), name);
    const model_params& g = m.layers[i];
    if (p.nv != g.nv || p.nh != g.nh || p.classes != g.classes || p.visible != g.visible)
      throw data_error(name + ": not the shape of the greedy layer " + std::to_string(i + 1));
    m.tuned.push_back(std::move(p));
  }
  return m;
}

stack_model classifier_of(const stack_model& m) {
  stack_model c = m;
  if (!m.tuned.empty()) c.layers = m.tuned;
  return c;
}

}  // namespace rbm

#ifndef RBM_HAVE_CUDA
namespace rbm::detail {
struct device_rows::impl {};
bool device_rows::built() { return false; }
device_rows::device_rows() = default;
device_rows::~device_rows() = default;
device_rows::device_rows(device_rows&&) noexcept = default;
device_rows& device_rows::operator=(device_rows&&) noexcept = default;
const float* device_rows::data() const { return nullptr; }
int device_rows::rows() const { return 0; }
int device_rows::cols() const { return 0; }
std::vector<float> device_rows::to_host() const { return {}; }
device_rows device_rows::propagate(const model_params&, const float*, bool, int, bool, std::uint64_t, const gpu_options&) {
  throw precondition_error("this build has no CUDA backend: a stack propagates on the CPU");
}
}  // namespace rbm::detail
#endif
