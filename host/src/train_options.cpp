// Options: their checks, the configuration JSON a checkpoint records (both ways), the schedules, the
// tutorial's preset.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "rbm/error.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/optimizer_json.hpp"
#include "train_parts.hpp"

namespace rbm {
using namespace detail;
namespace detail {

void check_tempering(const train_options& o) {
  if (o.cd.tempering < 0 || o.cd.tempering > max_tempering)
    throw precondition_error("tempering must be in [0, " + std::to_string(max_tempering) + "] (0 or 1: none; got " +
                             std::to_string(o.cd.tempering) + ")");
  if (replicas_of(o.cd) > 1 && o.cd.pcd)
    throw precondition_error("parallel tempering keeps its own persistent chains: give tempering or pcd, not both");
  if (replicas_of(o.cd) > 1 && o.labels && o.objective != "discriminative")
    throw precondition_error("the " + o.objective + " objective's chain on the joint with labels is CD or PCD "
                             "(parallel tempering trains models without labels so far)");
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
  check_tempering(o);
  if (replicas_of(o.cd) > 1 &&
      std::size_t(o.batch) * replicas_of(o.cd) * std::size_t(std::max(o.cd.nv, o.cd.nh)) > (std::size_t(1) << 31))
    throw precondition_error("the tempered chains (batch x tempering x units) exceed 2^31 values");
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

namespace {

// Every option a checkpoint records and reads back, once: its JSON key, its field, and whether a file
// may lack it (options added after the format's first version: such a file reads their defaults).
// Options (train_options or const train_options) is walked with f(key, field, optional).
template <class Options, class F>
void each_recorded_option(Options& o, F&& f) {
  constexpr bool required = false, optional = true;
  f("nv", o.cd.nv, required);
  f("nh", o.cd.nh, required);
  f("k", o.cd.k, required);
  f("pcd", o.cd.pcd, required);
  f("lr", o.cd.lr, required);
  f("momentum", o.cd.momentum, required);
  f("weight_decay", o.cd.weight_decay, required);
  f("sparsity_target", o.cd.sparsity_target, required);
  f("sparsity_cost", o.cd.sparsity_cost, required);
  f("sum_weight_gradient", o.cd.sum_weight_gradient, required);
  f("hidden_bias_from_states", o.cd.hidden_bias_from_states, required);
  f("seed", o.cd.seed, required);
  f("batch", o.batch, required);
  f("zero_init", o.zero_init, required);
  f("tutorial_batches", o.tutorial_batches, required);
  f("preset", o.preset, required);
  f("initial_momentum", o.initial_momentum, required);
  f("momentum_epochs", o.momentum_epochs, required);
  f("lr_decay", o.lr_decay, required);
  f("early_stop", o.early_stop, required);
  f("snapshot_every", o.snapshot_every, required);
  f("eval_every", o.eval_every, required);
  f("ais_runs", o.ais.runs, required);
  f("ais_steps", o.ais.steps, required);
  f("eval_limit", o.eval_limit, required);
  f("binarize", o.binarize, optional);
  f("visible_sample", o.cd.visible_sample, optional);
  f("learn_sigma", o.cd.learn_sigma, optional);
  f("sigma_floor", o.cd.sigma_floor, optional);
  f("standardize", o.standardize, optional);
  f("labels", o.labels, optional);
  f("classes", o.classes, optional);
  f("objective", o.objective, optional);
  f("alpha", o.alpha, optional);
  f("validation", o.validation, optional);
  f("optimizer", o.cd.update_rule, optional);
  f("states", o.cd.states, optional);
  f("tempering", o.cd.tempering, optional);
}

nlohmann::json recorded_options(const train_options& o) {
  nlohmann::json j = nlohmann::json::object();
  each_recorded_option(o, [&](const char* key, const auto& field, bool) { j[key] = field; });
  return j;
}

}  // namespace

nlohmann::json config_json(const train_options& o, const dataset& data, const std::string& backend_name) {
  nlohmann::json j = recorded_options(o);
  j["visible"] = to_string(o.cd.visible);
  j["hidden"] = to_string(o.cd.hidden);
  j["epochs"] = o.epochs;
  // What the run was, for a reader (not read back): where it trained and on what.
  j["backend"] = backend_name;
  j["gemm"] = to_string(o.gpu.mode);
  j["image_rows"] = data.train.rows;
  j["image_cols"] = data.train.cols;
  j["train_count"] = data.train.count;
  return j;
}

train_options options_from_checkpoint(const nlohmann::json& c, const train_options& cli) {
  train_options o = cli;
  const nlohmann::json defaults = recorded_options(train_options{});
  each_recorded_option(o, [&](const char* key, auto& field, bool optional) {
    field = (optional && !c.contains(key) ? defaults.at(key) : c.at(key)).template get<std::decay_t<decltype(field)>>();
  });
  const std::string visible = c.value("visible", std::string(to_string(unit_kind::bernoulli)));
  if (!parse_unit_kind(visible, o.cd.visible))
    throw precondition_error("the configuration names visible units '" + visible + "' (known: " + unit_kind_list() + ")");
  const std::string hidden = c.value("hidden", std::string(to_string(unit_kind::bernoulli)));
  if (!parse_unit_kind(hidden, o.cd.hidden, layer_side::hidden))
    throw precondition_error("the configuration names hidden units '" + hidden + "' (known: " +
                             unit_kind_list(layer_side::hidden) + ")");
  if (cli.epochs <= 0) o.epochs = c.at("epochs");  // not given on the command line: the original plan
  o.out_dir = cli.resume;
  o.init_from.clear();
  return o;
}

double lr_of(const train_options& o, int epoch) { return o.cd.lr * std::pow(double(o.lr_decay), epoch - 1); }
double momentum_of(const train_options& o, int epoch) {
  return o.initial_momentum >= 0 && epoch <= o.momentum_epochs ? o.initial_momentum : o.cd.momentum;
}

}  // namespace detail

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

std::string options_json(const train_options& o) { return config_json(o, dataset{}, "").dump(); }

train_options options_from_json(const std::string& json, const train_options& keep) {
  train_options o = options_from_checkpoint(nlohmann::json::parse(json), keep);
  o.out_dir = keep.out_dir;
  o.resume = keep.resume;
  return o;
}


}  // namespace rbm
