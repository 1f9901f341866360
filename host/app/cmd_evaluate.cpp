// `rbm evaluate` (how good is a model) and `rbm import` (models trained elsewhere).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/version.hpp"
#include "rbm/error.hpp"
#include "rbm/host/categorical_data.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/host/tools.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm_cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// `rbm evaluate` of a model with Gaussian visible units: errors and free energies in the model's units,
// the exact log Z (hidden states enumerated, visible units integrated out) and the held-out log density
// in the data's own units, beside independent Gaussians fitted to the training data.
void evaluate_gaussian(const std::string& model_path, const rbm::saved_model& m, const rbm::dataset& d,
                       const std::string& device, std::uint64_t seed, int exact_max, int eval_limit, int ais_runs,
                       int ais_steps, nlohmann::json& res) {
  const auto& p = m.params;
  std::vector<float> mean, sd;
  standardization_of(model_path, p.nv, mean, sd);
  const rbm::image_set& held = d.test.count > 0 ? d.test : d.train;
  const std::vector<float> train = model_values(d.train, mean, sd), test = model_values(held, mean, sd);
  rbm::cd_config cfg;
  cfg.nv = p.nv;
  cfg.nh = p.nh;
  cfg.seed = seed;
  cfg.visible = rbm::unit_kind::gaussian;
  std::string why;
  auto be = rbm::make_backend(device, cfg, 100, rbm::gpu_options{}, why);
  std::fprintf(stderr, "%s\n", why.c_str());
  be->set_params(p);
  const int ntrain = eval_limit > 0 ? std::min(eval_limit, d.train.count) : d.train.count;
  const auto tr = be->evaluate(rbm::rows_view::of(train.data(), ntrain, p.nv));
  const auto te = be->evaluate(rbm::rows_view::of(test.data(), held.count, p.nv));
  const char* units = mean.empty() ? "data units" : "standardised units";
  std::printf("reconstruction error (mean squared, %s; from sampled / mean-field hidden): training %.6f / %.6f, "
              "held-out %.6f / %.6f\n",
              units, tr.err_sampled, tr.err_mean_field, te.err_sampled, te.err_mean_field);
  std::printf("mean free energy: training %.4f, held-out %.4f, gap (held-out - training) %.4f\n", tr.free_energy,
              te.free_energy, te.free_energy - tr.free_energy);
  res["visible_units"] = rbm::to_string(rbm::unit_kind::gaussian);
  res["recon_err_sampled"] = {{"train", tr.err_sampled}, {"test", te.err_sampled}};
  res["recon_err_mean_field"] = {{"train", tr.err_mean_field}, {"test", te.err_mean_field}};
  res["free_energy"] = {{"train", tr.free_energy}, {"test", te.free_energy}, {"gap", te.free_energy - tr.free_energy}};
  // Densities in the data's own units: a standardised model's density divided by prod sd.
  double log_jacobian = 0;
  for (float x : sd) log_jacobian += std::log(double(x));
  const std::vector<float> raw_train = model_values(d.train, {}, {}), raw_test = model_values(held, {}, {});
  const double baseline =
      rbm::independent_gaussians_log_likelihood(raw_train.data(), d.train.count, raw_test.data(), held.count, p.nv);
  res["baseline_independent_gaussians"] = baseline;
  if (p.nh <= exact_max) {
    rbm::cpu::thread_team team(openblas_get_num_threads());
    const auto t0 = std::chrono::steady_clock::now();
    const double lz = rbm::exact_log_z(p, exact_max, &team);
    const double ll = rbm::mean_log_likelihood(p, test.data(), held.count, lz) - log_jacobian;
    std::printf("log Z exact (enumerating %d hidden units, the visible ones integrated out): %.4f; held-out log "
                "density per sample %.4f nats (data units; independent Gaussians: %.4f) (%.1fs)\n",
                p.nh, lz, ll, baseline, seconds_since(t0));
    res["log_z_exact"] = lz;
    res["log_likelihood_exact"] = ll;
  } else {
    std::printf("held-out log density: needs the exact log Z (at most --exact-max %d hidden units; this model has %d); "
                "independent Gaussians: %.4f nats per sample\n",
                exact_max, p.nh, baseline);
  }
  if (ais_runs > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> base_mean, base_sd;
    rbm::fit_independent_gaussians(train.data(), d.train.count, p.nv, base_mean, base_sd);
    rbm::ais_options ao;
    ao.runs = ais_runs;
    ao.steps = ais_steps;
    ao.seed = seed;
    rbm::cpu::thread_team team(openblas_get_num_threads());
    const auto a = rbm::ais_log_z_gaussian(p, base_mean, base_sd, ao, &team);
    const double mean_neg_f = rbm::mean_log_likelihood(p, test.data(), held.count, 0.0);
    const double ll = mean_neg_f - a.log_z - log_jacobian;
    std::printf("log Z by AIS (%d runs, %d temperatures, from independent Gaussians fitted to the training data): "
                "%.4f, 3-sigma interval [%.4f, %.4f] (%.1fs)\n",
                a.runs, a.steps, a.log_z, a.log_z_low, a.log_z_high, seconds_since(t0));
    std::printf("held-out log density per sample (AIS, data units): %.4f nats, interval [%.4f, %.4f]\n", ll,
                mean_neg_f - a.log_z_high - log_jacobian, mean_neg_f - a.log_z_low - log_jacobian);
    res["ais"] = {{"log_z", a.log_z},
                  {"log_z_low", a.log_z_low},
                  {"log_z_high", a.log_z_high},
                  {"runs", a.runs},
                  {"steps", a.steps},
                  {"log_likelihood", ll},
                  {"log_likelihood_low", mean_neg_f - a.log_z_high - log_jacobian},
                  {"log_likelihood_high", mean_neg_f - a.log_z_low - log_jacobian}};
  }
}

// A stack (a DBN): the variational lower bound on the held-out log-likelihood (Monte Carlo over the
// up-pass, log Z of the top exactly or by AIS from the base rates of its input), beside the bottom RBM's
// own log-likelihood, and the DBN's exact log-likelihood where every hidden layer can be enumerated.
void evaluate_stack(const std::string& path, const rbm::dataset& d, const std::string& device, std::uint64_t seed,
                    int exact_max, int ais_runs, int ais_steps, int images, int samples, nlohmann::json& res) {
  const rbm::stack_model m = rbm::load_stack(path);
  const int layers = int(m.layers.size());
  const rbm::model_params& bottom = m.layers[0];
  const rbm::model_params& top = m.layers.back();
  if (bottom.gaussian() || bottom.categorical())
    throw rbm::precondition_error(path + ": the bound of a stack is for Bernoulli visible units, and this stack's "
                                  "bottom layer is " + (bottom.gaussian() ? "Gaussian" : "categorical") +
                                  " (evaluate its layer1/model.safetensors alone for its likelihood)");
  for (int i = 0; i < layers; ++i)  // (Gaussian units above the bottom come only over continuous ones)
    if (m.layers[std::size_t(i)].hidden != rbm::unit_kind::bernoulli)
      throw rbm::precondition_error(path + ": the bound of a stack is for Bernoulli hidden units, and layer " +
                                    std::to_string(i + 1) + "'s are " + rbm::to_string(m.layers[std::size_t(i)].hidden) +
                                    " (evaluate a layer's model.safetensors alone for its likelihood)");
  if (d.train.dim() != bottom.nv)
    throw rbm::data_error(d.train.source + ": images have " + std::to_string(d.train.dim()) +
                          " pixels but the stack has " + std::to_string(bottom.nv) + " visible units");
  if (d.train.real()) throw rbm::data_error(d.name + ": the bound of a stack is for binary pixel data");
  const rbm::image_set& held = d.test.count > 0 ? d.test : d.train;
  const int n = images > 0 ? std::min(images, held.count) : held.count;
  std::string shape = std::to_string(bottom.nv);
  for (const auto& p : m.layers) shape += "-" + std::to_string(p.nh);
  std::printf("stack %s: %d layers %s; data %s (%d training, %d held-out; the bound on %d held-out images, "
              "binarised at 128)\n", path.c_str(), layers, shape.c_str(), d.name.c_str(), d.train.count, d.test.count, n);
  res["dbn"] = {{"layers", layers}, {"shape", shape}, {"images", n}};
  const std::vector<float> test_bin = rbm::binarize(held.pixels.data(), std::size_t(n) * bottom.nv);
  const std::vector<float> train_bin = rbm::binarize(d.train.pixels.data(), d.train.pixels.size());
  // log Z of one RBM exactly where a layer is small, else by AIS from the base rates of `input` [rows, nv].
  auto log_z = [&](const rbm::model_params& p, const std::vector<float>& input, int rows, const char* what) {
    if (rbm::exact_log_z_bits(p) <= exact_max) return rbm::exact_log_z(p, exact_max);
    if (ais_runs <= 0) throw rbm::precondition_error(std::string("log Z of the ") + what + " needs AIS (--ais-runs > 0)");
    rbm::cd_config cfg;
    cfg.nv = p.nv;
    cfg.nh = p.nh;
    cfg.hidden = p.hidden;
    cfg.seed = seed;
    std::string why;
    auto be = rbm::make_backend(device, cfg, 100, rbm::gpu_options{}, why);
    be->set_params(p);
    rbm::ais_options ao;
    ao.runs = ais_runs;
    ao.steps = ais_steps;
    ao.seed = seed;
    const auto a = be->ais_log_z(rbm::base_rate_bias(input.data(), rows, p.nv, 0.5f), ao);
    std::printf("log Z of the %s by AIS (%d runs, %d temperatures): %.4f, 3-sigma interval [%.4f, %.4f]\n", what,
                a.runs, a.steps, a.log_z, a.log_z_low, a.log_z_high);
    return a.log_z;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const double z1 = log_z(bottom, train_bin, d.train.count, "bottom RBM");
  const double ll1 = rbm::mean_log_likelihood(bottom, test_bin.data(), n, z1);
  std::printf("the bottom RBM alone (%dx%d): log-likelihood per held-out image %.4f nats\n", bottom.nv, bottom.nh, ll1);
  res["dbn"]["layer1_log_likelihood"] = ll1;
  if (layers > 1) {
    const std::vector<float> top_in = rbm::features_at(m, train_bin.data(), d.train.count, layers - 1);
    // With labels on the top: the labels summed out, one partition function per class.
    int klass = 0;
    const double zt = rbm::top_log_z(top, [&](const rbm::model_params& q) {
      const std::string what = top.labeled() ? "top RBM with label " + std::to_string(klass++) + " clamped" : "top RBM";
      return log_z(q, top_in, d.train.count, what.c_str());
    });
    if (top.labeled())
      std::printf("log Z of the top RBM, its %d labels summed out: %.4f\n", top.classes, zt);
    const auto b = rbm::dbn_lower_bound(m, test_bin.data(), n, zt, samples, seed);
    double bound = 0;
    for (double x : b) bound += x / n;
    std::printf("DBN lower bound on the log-likelihood per held-out image: %.4f nats (%d draws of the up-pass per "
                "image; the bottom RBM: %.4f) (%.1fs)\n", bound, samples, ll1, seconds_since(t0));
    res["dbn"]["bound"] = bound;
    res["dbn"]["bound_samples"] = samples;
    res["dbn"]["top_log_z"] = zt;
  }
  try {
    const auto e = rbm::dbn_exact_log_likelihood(m, test_bin.data(), n);
    double exact = 0;
    for (double x : e) exact += x / n;
    std::printf("DBN exact log-likelihood per held-out image: %.4f nats (every hidden layer enumerated)\n", exact);
    res["dbn"]["log_likelihood_exact"] = exact;
  } catch (const rbm::precondition_error& e) {
    std::printf("DBN exact log-likelihood: not computed (%s)\n", e.what());
  }
}

namespace {

struct eval_opts {
  std::string model, device = "auto", json;
  data_options data;
  int ais_runs = 100, ais_steps = 14500, pll_samples = 1000, exact_max = 20, eval_limit = 10000;
  int bound_images = 0, bound_samples = 10;  // 0: every held-out image, as a single RBM's figures
  std::uint64_t seed = 1;
  bool classify = false;
};

// The backend `device` names holding p, its choice said on stderr.
std::unique_ptr<rbm::backend> backend_for(const eval_opts& o, const rbm::model_params& p) {
  rbm::cd_config cfg;
  cfg.nv = p.nv;
  cfg.nh = p.nh;
  cfg.seed = o.seed;
  cfg.visible = p.visible;
  cfg.states = p.states;
  cfg.hidden = p.hidden;
  std::string why;
  auto be = rbm::make_backend(o.device, cfg, 100, rbm::gpu_options{}, why);
  std::fprintf(stderr, "%s\n", why.c_str());
  be->set_params(p);
  return be;
}

// Reconstruction errors and free energies on the backend `device` names (training rows up to
// --eval-limit, every held-out one); returns that backend for AIS.
std::unique_ptr<rbm::backend> errors_and_free_energies(const eval_opts& o, const rbm::model_params& p,
                                                       const rbm::dataset& d, const rbm::image_set& held,
                                                       nlohmann::json& res) {
  auto be = backend_for(o, p);
  const int ntrain = o.eval_limit > 0 ? std::min(o.eval_limit, d.train.count) : d.train.count;
  // Pixels, or one-hot values (categorical units).
  auto rows = [&](const rbm::image_set& set, int n) {
    return set.real() ? rbm::rows_view::of(set.value_data(), n, p.nv) : rbm::rows_view::of(set.pixels.data(), n, p.nv);
  };
  const auto tr = be->evaluate(rows(d.train, ntrain));
  const auto te = be->evaluate(rows(held, held.count));
  std::printf("reconstruction error (sampled / mean-field): training %.6f / %.6f, held-out %.6f / %.6f\n",
              tr.err_sampled, tr.err_mean_field, te.err_sampled, te.err_mean_field);
  std::printf("mean free energy: training %.4f, held-out %.4f, gap (held-out - training) %.4f\n", tr.free_energy,
              te.free_energy, te.free_energy - tr.free_energy);
  res["recon_err_sampled"] = {{"train", tr.err_sampled}, {"test", te.err_sampled}};
  res["recon_err_mean_field"] = {{"train", tr.err_mean_field}, {"test", te.err_mean_field}};
  res["free_energy"] = {
      {"train", tr.free_energy}, {"test", te.free_energy}, {"gap", te.free_energy - tr.free_energy}};
  return be;
}

// The pseudo-log-likelihood, the exact log Z where a layer is small enough, and AIS: likelihoods of the
// held-out images, binarised at 128.
void likelihoods(const eval_opts& o, rbm::backend& be, const rbm::model_params& p, const rbm::dataset& d,
                 const rbm::image_set& held, nlohmann::json& res) {
  const std::vector<float> test_bin = rbm::binarize(held.pixels.data(), held.pixels.size());
  // The CPU-side measures below share a team of OpenBLAS's thread count (the cores, or as set).
  rbm::cpu::thread_team team(openblas_get_num_threads());
  if (o.pll_samples > 0) {
    const int n = std::min(o.pll_samples, held.count);
    const double pll = rbm::pseudo_log_likelihood(p, test_bin.data(), n, &team);
    std::printf("pseudo-log-likelihood per held-out image (binarised at 128, first %d): %.4f nats\n", n, pll);
    res["pseudo_log_likelihood"] = pll;
  }
  double mean_neg_f = 0;  // mean -F(v) over the binarised held-out set: LL = that - log Z
  mean_neg_f = rbm::mean_log_likelihood(p, test_bin.data(), held.count, 0.0);
  if (rbm::exact_log_z_bits(p) <= o.exact_max) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lz = rbm::exact_log_z(p, o.exact_max, &team);
    std::printf("log Z exact (a sum over 2^%g configurations): %.4f; log-likelihood per held-out image %.4f nats "
                "(%.1fs)\n", rbm::exact_log_z_bits(p), lz, mean_neg_f - lz, seconds_since(t0));
    res["log_z_exact"] = lz;
    res["log_likelihood_exact"] = mean_neg_f - lz;
  }
  if (o.ais_runs > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> train_bin = rbm::binarize(d.train.pixels.data(), d.train.pixels.size());
    rbm::ais_options ao;
    ao.runs = o.ais_runs;
    ao.steps = o.ais_steps;
    ao.seed = o.seed;
    const auto a = be.ais_log_z(rbm::base_rate_bias(train_bin.data(), d.train.count, p.nv), ao);
    std::printf("log Z by AIS (%d runs, %d temperatures): %.4f, 3-sigma interval [%.4f, %.4f] (%.1fs)\n", a.runs,
                a.steps, a.log_z, a.log_z_low, a.log_z_high, seconds_since(t0));
    std::printf("log-likelihood per held-out image (AIS, binarised at 128): %.4f nats, interval [%.4f, %.4f]\n",
                mean_neg_f - a.log_z, mean_neg_f - a.log_z_high, mean_neg_f - a.log_z_low);
    res["ais"] = {{"log_z", a.log_z},
                  {"log_z_low", a.log_z_low},
                  {"log_z_high", a.log_z_high},
                  {"runs", a.runs},
                  {"steps", a.steps},
                  {"log_likelihood", mean_neg_f - a.log_z},
                  {"log_likelihood_low", mean_neg_f - a.log_z_high},
                  {"log_likelihood_high", mean_neg_f - a.log_z_low}};
  }
}

// A model of categorical visible units on integer .npy rows made one-hot with its states: errors and
// free energies (CPU), the exact log Z and held-out log-likelihood where the hidden layer is small
// enough, beside the model of independent sites (each site's training frequencies).
void evaluate_categorical(const eval_opts& o, const rbm::model_params& p, const rbm::dataset& raw,
                          nlohmann::json& res) {
  const rbm::dataset d = rbm::one_hot(raw, p.states);
  if (d.train.dim() != p.nv)
    throw rbm::data_error(raw.train.source + ": rows have " + std::to_string(raw.train.dim()) + " sites but the model " +
                          std::to_string(p.sites()) + " (" + std::to_string(p.nv) + " one-hot units of " +
                          std::to_string(p.states) + " states)");
  const rbm::image_set& held = d.test.count > 0 ? d.test : d.train;
  const auto be = errors_and_free_energies(o, p, d, held, res);  // of the one-hot rows
  res["visible_units"] = rbm::to_string(p.visible);
  res["states"] = p.states;
  // Independent sites: the model training starts from (visible biases the log state frequencies of the
  // training rows) with W = 0 and one hidden unit, its log Z exact.
  rbm::model_params sites_model =
      rbm::init_categorical_params(p.nv, 1, p.states, d.train.values.data(), d.train.count, o.seed, false);
  std::fill(sites_model.w.begin(), sites_model.w.end(), 0.0f);
  const double baseline = rbm::mean_log_likelihood(sites_model, held.values.data(), held.count,
                                                   rbm::exact_log_z(sites_model));
  res["baseline_independent_sites"] = baseline;
  const double neg_f = rbm::mean_log_likelihood(p, held.values.data(), held.count, 0.0);  // LL = this - log Z
  if (rbm::exact_log_z_bits(p) <= o.exact_max) {
    rbm::cpu::thread_team team(openblas_get_num_threads());
    const double lz = rbm::exact_log_z(p, o.exact_max, &team);
    std::printf("log Z exact (a sum over 2^%g configurations): %.4f; log-likelihood per held-out row %.4f nats "
                "(independent sites: %.4f)\n", rbm::exact_log_z_bits(p), lz, neg_f - lz, baseline);
    res["log_z_exact"] = lz;
    res["log_likelihood_exact"] = neg_f - lz;
  }
  if (o.ais_runs > 0) {  // from the independent-sites model
    rbm::ais_options ao;
    ao.runs = o.ais_runs;
    ao.steps = o.ais_steps;
    ao.seed = o.seed;
    const auto a = be->ais_log_z(sites_model.vb, ao);
    std::printf("log Z by AIS (%d runs, %d temperatures): %.4f, 3-sigma interval [%.4f, %.4f]; log-likelihood per "
                "held-out row %.4f nats\n", a.runs, a.steps, a.log_z, a.log_z_low, a.log_z_high, neg_f - a.log_z);
    res["ais"] = {{"log_z", a.log_z}, {"log_z_low", a.log_z_low}, {"log_z_high", a.log_z_high},
                  {"runs", a.runs}, {"steps", a.steps}, {"log_likelihood", neg_f - a.log_z},
                  {"log_likelihood_low", neg_f - a.log_z_high}, {"log_likelihood_high", neg_f - a.log_z_low}};
  }
}

// --classify: softmax regression on the hidden features against one on the pixels.
void classify_features(const rbm::model_params& p, const rbm::dataset& d, const rbm::image_set& held,
                     nlohmann::json& res) {
  if (d.train.labels.empty() || held.labels.empty() || d.test.count == 0)
    throw rbm::data_error(d.name + ": --classify needs labelled training and held-out images");
  const auto ftr = rbm::hidden_probabilities(p, d.train.pixels.data(), d.train.count);
  const auto fte = rbm::hidden_probabilities(p, held.pixels.data(), held.count);
  const double acc = rbm::softmax_accuracy(ftr, d.train.labels, fte, held.labels, p.nh);
  std::vector<float> ptr(d.train.pixels.size()), pte(held.pixels.size());
  for (std::size_t i = 0; i < ptr.size(); ++i) ptr[i] = rbm::pixel_to_unit(d.train.pixels[i]);
  for (std::size_t i = 0; i < pte.size(); ++i) pte[i] = rbm::pixel_to_unit(held.pixels[i]);
  const double raw = rbm::softmax_accuracy(ptr, d.train.labels, pte, held.labels, p.nv);
  std::printf("classification (softmax regression, held-out accuracy): RBM features %.4f, raw pixels %.4f\n", acc,
              raw);
  res["classify"] = {{"rbm_features", acc}, {"raw_pixels", raw}};
}

}  // namespace

void register_evaluate_command(CLI::App& app, command_list& out) {
  auto o = std::make_shared<eval_opts>();
  auto* c = app.add_subcommand("evaluate", "reconstruction errors, free energies, pseudo- and AIS log-likelihood");
  c->add_option("--model", o->model, "model.safetensors")->required();
  add_data_options(c, o->data);
  c->add_option("--device", o->device, "auto | cpu | cuda (reconstruction errors, free energies, AIS)")
      ->capture_default_str();
  c->add_option("--ais-runs", o->ais_runs, "AIS runs (0: skip AIS)")->capture_default_str()
      ->check(integer_in(0, rbm::max_ais_runs));
  c->add_option("--ais-steps", o->ais_steps, "AIS intermediate distributions")->capture_default_str()
      ->check(integer_in(10, rbm::max_ais_steps));
  c->add_option("--pll-samples", o->pll_samples, "held-out images for the pseudo-log-likelihood (0: skip)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  c->add_option("--exact-max", o->exact_max, "enumerate log Z exactly when a layer has at most this many units")
      ->capture_default_str()
      ->check(integer_in(0, 30));
  c->add_option("--eval-limit", o->eval_limit, "training images used for errors and free energy")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  c->add_option("--seed", o->seed, "random seed of the sampled reconstructions and AIS")->capture_default_str()
      ->check(seed_value());
  c->add_flag("--classify", o->classify, "softmax regression on hidden features vs raw pixels (needs labels)");
  c->add_option("--json", o->json, "also write the results here");
  c->add_option("--bound-images", o->bound_images,
                 "a stack: the first N held-out images its likelihood bound is averaged over (0: all of them)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  c->add_option("--bound-samples", o->bound_samples, "a stack: draws of the up-pass per image for the bound")
      ->capture_default_str()
      ->check(integer_in(1, 1000000));
  out.emplace_back(c, [o] {
    if (rbm::is_stack_file(o->model)) {
      const rbm::dataset d = load_data(o->data, rbm::read_tensors(o->model).metadata);
      nlohmann::json res = {{"model", o->model}, {"dataset", d.name}};
      evaluate_stack(o->model, d, o->device, o->seed, o->exact_max, o->ais_runs, o->ais_steps, o->bound_images,
                     o->bound_samples, res);
      if (!o->json.empty()) rbm::write_file_atomic(o->json, res.dump(2) + "\n");
      return 0;
    }
    const rbm::saved_model m = rbm::load_model(o->model);
    const auto& p = m.params;
    const rbm::dataset d = load_data(o->data, m.metadata);
    if (p.categorical()) {
      nlohmann::json res = {{"model", o->model}, {"dataset", d.name}, {"nv", p.nv}, {"nh", p.nh}};
      evaluate_categorical(*o, p, d, res);
      if (!o->json.empty()) rbm::write_file_atomic(o->json, res.dump(2) + "\n");
      return 0;
    }
    if (d.train.dim() != p.nv)
      throw rbm::data_error(d.train.source + ": images have " + std::to_string(d.train.dim()) +
                            " pixels but the model has " + std::to_string(p.nv) + " visible units");
    const rbm::image_set& held = d.test.count > 0 ? d.test : d.train;
    nlohmann::json res = {{"model", o->model}, {"dataset", d.name}, {"nv", p.nv}, {"nh", p.nh}};
    std::printf("model %s: %dx%d; data %s (%d training, %d held-out)\n", o->model.c_str(), p.nv, p.nh, d.name.c_str(),
                d.train.count, d.test.count);
    if (p.gaussian()) {
      evaluate_gaussian(o->model, m, d, o->device, o->seed, o->exact_max, o->eval_limit, o->ais_runs, o->ais_steps, res);
      if (!o->json.empty()) rbm::write_file_atomic(o->json, res.dump(2) + "\n");
      return 0;
    }
    if (d.train.real())
      throw rbm::data_error(d.name + ": real-valued data need a model with Gaussian visible units");

    const auto be = errors_and_free_energies(*o, p, d, held, res);
    likelihoods(*o, *be, p, d, held, res);
    if (o->classify) classify_features(p, d, held, res);
    if (!o->json.empty()) rbm::write_file_atomic(o->json, res.dump(2) + "\n");
    return 0;
  });
}

void register_import(CLI::App& app, command_list& out) {
  struct opts {
    std::string sklearn, out;
  };
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("import", "convert a model trained elsewhere into rbm's model.safetensors");
  c->add_option("--sklearn", o->sklearn,
                "safetensors written by bench/peers/sklearn_export.py: components_ [nh, nv], intercept_visible_, "
                "intercept_hidden_")
      ->required();
  c->add_option("--out", o->out, "model.safetensors to write")->required();
  out.emplace_back(c, [o] {
    rbm::tensor_file f = rbm::read_tensors(o->sklearn);
    for (const char* name : {"components_", "intercept_visible_", "intercept_hidden_"})
      if (!f.tensors.count(name)) throw rbm::data_error(o->sklearn + ": has no tensor '" + name + "'");
    const auto& comp = f.tensors["components_"];
    if (comp.shape.size() != 2) throw rbm::data_error(o->sklearn + ": components_ must be [n_components, n_features]");
    const int nh = int(comp.shape[0]), nv = int(comp.shape[1]);
    if (f.tensors["intercept_visible_"].data.size() != std::size_t(nv) ||
        f.tensors["intercept_hidden_"].data.size() != std::size_t(nh))
      throw rbm::data_error(o->sklearn + ": intercepts do not match components_ [" + std::to_string(nh) + ", " +
                            std::to_string(nv) + "]");
    rbm::model_params p(nv, nh);
    for (int j = 0; j < nh; ++j)
      for (int i = 0; i < nv; ++i)
        p.w[std::size_t(i) * nh + j] = comp.data[std::size_t(j) * nv + i];  // W = components_^T
    p.vb = f.tensors["intercept_visible_"].data;
    p.hb = f.tensors["intercept_hidden_"].data;
    auto meta = f.metadata;
    meta["format"] = "rbm";
    meta["rbm_version"] = rbm::version;
    meta["imported_from"] = "scikit-learn BernoulliRBM: " + o->sklearn;
    const int side = int(std::lround(std::sqrt(double(nv))));
    if (!meta.count("config") && side * side == nv)
      meta["config"] = "{\"nv\":" + std::to_string(nv) + ",\"nh\":" + std::to_string(nh) +
                       ",\"image_rows\":" + std::to_string(side) + ",\"image_cols\":" + std::to_string(side) + "}";
    rbm::save_model(o->out, p, meta);
    std::printf("wrote %s: %dx%d from %s\n", o->out.c_str(), nv, nh, o->sklearn.c_str());
    return 0;
  });
}

}  // namespace

void register_evaluate(CLI::App& app, command_list& out) {
  register_evaluate_command(app, out);
  register_import(app, out);
}

}  // namespace rbm_cli
