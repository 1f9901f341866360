// The checkpoint format: model.safetensors with the optimiser's state, the PCD chains, the generator's
// position, the epoch and batch reached, the configuration and the metrics so far.
#include <cmath>
#include <filesystem>
#include <string>

#include "rbm/error.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/state_tensors.hpp"
#include "rbm/version.hpp"
#include "train_parts.hpp"

namespace fs = std::filesystem;

namespace rbm::detail {
namespace {

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

}  // namespace

void save_checkpoint(const std::string& path, const backend& be, int epoch, int batch, long seen,
                     const nlohmann::json& config, const std::string& dataset_name,
                     const std::vector<epoch_metrics>& history, const standardization& stats) {
  const model_params p = be.params();
  const training_state st = be.state();
  tensor_file f;
  f.tensors["W"] = {{p.nv, p.nh}, p.w};
  f.tensors["vb"] = {{p.nv}, p.vb};
  f.tensors["hb"] = {{p.nh}, p.hb};
  for (const state_tensor& t : state_tensors)
    if (t.required || !(st.*t.member).empty()) f.tensors[t.name] = {state_tensor_shape(t, p), st.*t.member};
  if (st.chains > 0 && st.tempered_v.empty()) f.tensors["chain_h"] = {{st.chains, p.nh}, st.chain_h};
  if (!st.tempered_v.empty()) {  // parallel tempering's chains, [chains x replicas, .]
    const auto rows = std::int64_t(st.tempered_h.size() / std::size_t(p.nh));
    f.tensors["tempered_v"] = {{rows, p.nv}, st.tempered_v};
    f.tensors["tempered_h"] = {{rows, p.nh}, st.tempered_h};
  }
  f.metadata = {{"format", "rbm"}, {"config", config.dump()}, {"epoch", std::to_string(epoch)},
                {"dataset", dataset_name}, {"rbm_version", version},
                {"rng_position", std::to_string(st.rng_position)}, {"chains", std::to_string(st.chains)},
                {"batch", std::to_string(batch)}, {"samples_seen", std::to_string(seen)},
                {"updates", std::to_string(st.updates)},
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
    for (const state_tensor& t : state_tensors)
      if (t.required && !f.tensors.count(t.name))
        throw data_error(path + ": not a resumable checkpoint (no tensor '" + t.name + "')");
    c.config = nlohmann::json::parse(f.metadata["config"]);
    c.epoch = std::stoi(f.metadata["epoch"]);
    c.batch = f.metadata.count("batch") ? std::stoi(f.metadata["batch"]) : 0;
    c.dataset = f.metadata["dataset"];
    c.history = history_from_json(nlohmann::json::parse(f.metadata["history"]));
    c.samples_seen = f.metadata.count("samples_seen") ? std::stol(f.metadata["samples_seen"])
                     : c.history.empty()              ? 0
                                                      : c.history.back().samples_seen;
    for (const state_tensor& t : state_tensors) {
      if (!f.tensors.count(t.name)) continue;
      std::vector<float>& v = c.state.*t.member;
      v = f.tensors[t.name].data;
      if (v.size() != (c.params.*t.param).size())
        throw data_error(path + ": the optimizer state '" + t.name + "' does not fit the model's shape");
    }
    if (f.metadata.count("updates")) c.state.updates = std::stoull(f.metadata["updates"]);
    c.state.chains = std::stoi(f.metadata["chains"]);
    c.state.rng_position = std::stoull(f.metadata["rng_position"]);
    const bool tempered = f.tensors.count("tempered_v") > 0 || f.tensors.count("tempered_h") > 0;
    if (tempered) {
      c.state.tempered_v = f.tensors["tempered_v"].data;
      c.state.tempered_h = f.tensors["tempered_h"].data;
      const std::size_t chains = std::size_t(std::max(c.state.chains, 0));
      const std::size_t replicas = chains > 0 ? c.state.tempered_h.size() / (chains * c.params.nh) : 0;
      if (replicas < 2 || c.state.tempered_h.size() != chains * replicas * c.params.nh ||
          c.state.tempered_v.size() != chains * replicas * c.params.nv)
        throw data_error(path + ": the tempered chains do not fit the model's shape and chain count");
    } else if (c.state.chains > 0) {
      if (!f.tensors.count("chain_h")) throw data_error(path + ": the PCD chains are missing");
      c.state.chain_h = f.tensors["chain_h"].data;
    }
    if (!tempered && c.state.chain_h.size() != std::size_t(c.state.chains) * c.params.nh)
      throw data_error(path + ": the PCD chains do not fit the model's shape");
  } catch (const nlohmann::json::exception& e) {
    throw data_error(path + ": malformed checkpoint metadata (" + e.what() + ")");
  } catch (const std::logic_error& e) {  // std::stoi / stoull
    throw data_error(path + ": malformed checkpoint metadata (" + e.what() + ")");
  }
  return c;
}

}  // namespace rbm::detail
