// `rbm reconstruct`, `rbm sample`, `rbm filters`, `rbm features`, `rbm prob`: what the tutorial shows.
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/error.hpp"
#include "rbm/host/categorical_data.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/tools.hpp"
#include "rbm/math.hpp"

namespace rbm_cli {
namespace {

std::vector<float> parse_bits(const std::string& s, int expected, const char* option) {
  std::vector<float> out;
  for (char c : s) {
    if (c == ',' || c == ' ') continue;
    if (c != '0' && c != '1') throw rbm::precondition_error(std::string(option) + " must be a string of 0s and 1s");
    out.push_back(c == '1' ? 1.0f : 0.0f);
  }
  if (int(out.size()) != expected)
    throw rbm::precondition_error(std::string(option) + " has " + std::to_string(out.size()) + " bits; the model needs " +
                                  std::to_string(expected));
  return out;
}

// The rows of a data set the model is applied to: held-out rows when there are any, else training rows,
// as the model sees them (model_values: standardised where it was trained so).
const rbm::image_set& applied_set(const rbm::dataset& d, const rbm::saved_model& m) {
  const rbm::image_set& set = d.test.count > 0 ? d.test : d.train;
  if (set.dim() != m.params.nv) throw rbm::data_error(set.source + ": images do not match the model's visible units");
  return set;
}

// Model units back to data units (undoing --standardize where the model was trained with it).
void to_data_units(std::vector<float>& v, const std::vector<float>& mean, const std::vector<float>& sd) {
  if (!mean.empty())
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = v[i] * sd[i % sd.size()] + mean[i % mean.size()];
}

void register_reconstruct(CLI::App& app, command_list& out) {
  struct opts {
    std::string model, image, out = "reconstruction.png", mask, indices = "0", values;
    data_options data;
    bool invert = false, from_data = false;
    int zoom = 4;
  };
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("reconstruct", "input | hidden activations | reconstructions, side by side");
  c->add_option("--model", o->model, "model.safetensors")->required();
  c->add_option("--image", o->image, "a PNG, JPEG, PGM/PPM or BMP picture (converted to grey, resized)");
  c->add_option("--indices", o->indices, "with --data: comma-separated indices of held-out images")->capture_default_str();
  add_data_options(c, o->data);
  c->add_flag("--invert", o->invert, "the picture is dark on light: invert it to MNIST's light on dark");
  c->add_option("--mask", o->mask, "x0,y0,x1,y1: erase this rectangle first (to show repair)");
  c->add_option("--zoom", o->zoom, "pixels per image pixel in the output")->capture_default_str()
      ->check(integer_in(1, 64));
  c->add_option("--out", o->out, "output PNG")->capture_default_str();
  c->add_option("--values", o->values, "also write the mean-field reconstructions, in data units, to FILE.npy");
  out.emplace_back(c, [o, c] {
    const rbm::saved_model m = tool_model(o->model, /*categorical_ok=*/true);  // a row per site, a column per state
    const auto [rows, cols] = image_shape(m);
    const int nv = m.params.nv;
    if (m.params.categorical() && !o->image.empty())
      throw rbm::data_error(o->model + ": categorical visible units reconstruct integer states (--train-data / "
                                       "--test-data with --indices), not a picture");
    std::vector<float> mean, sd;
    standardization_of(o->model, nv, mean, sd);
    std::vector<std::vector<float>> inputs;  // data units: pixels / 255 for pictures and IDX sets
    if (!o->image.empty()) {
      rbm::image_set one;
      one.count = 1;
      one.pixels = rbm::load_picture(o->image, rows, cols, o->invert);
      if (rbm::trained_binarized(m.metadata)) rbm::binarize_pixels(one);
      inputs.emplace_back(nv);
      for (int i = 0; i < nv; ++i) inputs.back()[i] = rbm::pixel_to_unit(one.pixels[i]);
    } else {
      const rbm::dataset raw = load_data(o->data, m.metadata);
      const rbm::dataset d = m.params.categorical() ? rbm::one_hot(raw, m.params.states) : raw;
      const rbm::image_set& set = applied_set(d, m);
      for (int i : parse_ints(o->indices, "--indices")) {
        if (i < 0 || i >= set.count)
          throw rbm::precondition_error("--indices: " + std::to_string(i) + " is outside 0.." + std::to_string(set.count - 1));
        inputs.emplace_back(nv);
        for (int k = 0; k < nv; ++k)
          inputs.back()[k] = set.real() ? set.values[std::size_t(i) * nv + k] : rbm::pixel_to_unit(set.pixels[std::size_t(i) * nv + k]);
      }
    }
    if (!o->mask.empty()) {
      const auto r = parse_ints(o->mask, "--mask");
      if (r.size() != 4) throw rbm::precondition_error("--mask needs x0,y0,x1,y1");
      for (auto& v : inputs) rbm::erase_values(v, rows, cols, {r[0], r[1], r[2], r[3]});
    }
    std::vector<rbm::reconstruction> recs;
    std::vector<float> all_inputs, mean_field;
    for (const auto& v : inputs) {
      std::vector<float> model_units = v;
      if (!mean.empty())
        for (int i = 0; i < nv; ++i) model_units[i] = (v[i] - mean[i]) / sd[i];
      rbm::reconstruction r = rbm::reconstruct_values(m.params, model_units.data());
      r.input = v;
      to_data_units(r.tutorial, mean, sd);
      to_data_units(r.mean_field, mean, sd);
      all_inputs.insert(all_inputs.end(), v.begin(), v.end());
      mean_field.insert(mean_field.end(), r.mean_field.begin(), r.mean_field.end());
      recs.push_back(std::move(r));
    }
    // Bernoulli pictures are probabilities; real values are drawn over the inputs' range.
    const rbm::grey_range grey = m.params.gaussian() ? rbm::range_of(all_inputs) : rbm::grey_range{};
    rbm::write_png(o->out, rbm::reconstruction_sheet(recs, rows, cols, o->zoom, grey));
    if (!o->values.empty()) rbm::write_matrix(o->values, "reconstructions", mean_field, int(recs.size()), nv);
    for (std::size_t k = 0; k < recs.size(); ++k) {
      double e_t = 0, e_m = 0;
      for (int i = 0; i < nv; ++i) {
        e_t += std::pow(recs[k].input[i] - recs[k].tutorial[i], 2) / nv;
        e_m += std::pow(recs[k].input[i] - recs[k].mean_field[i], 2) / nv;
      }
      std::printf("image %zu: squared error of the tutorial's reconstruction %.4f, of the mean-field one %.4f%s\n", k,
                  e_t, e_m, mean.empty() ? "" : " (data units)");
    }
    std::printf("wrote %s (input | hidden activations | tutorial reconstruction | mean-field reconstruction)%s\n",
                o->out.c_str(), o->values.empty() ? "" : (" and " + o->values).c_str());
    (void)c;
    return 0;
  });
}

struct sample_opts {
  std::string model, out = "samples.png", from = "noise", values;
  data_options data;
  int chains = 20, steps = 1000, every = 100, label = -1;
  bool every_class = false;  // --class all: a row per class
  std::uint64_t seed = 1;
};

// A stack: Gibbs chains in the top RBM (its label clamped with --class), each snapshot taken down
// through the directed layers to pixels (rbm::down_pass).
int sample_stack(const sample_opts& o) {
  rbm::stack_model m = rbm::load_stack(o.model);
  rbm::model_params top = m.layers.back();
  rbm::saved_model shape_of;  // the bottom layer with the file's metadata: the picture shape
  shape_of.params = m.layers[0];
  shape_of.metadata = m.metadata;
  const auto [rows, cols] = image_shape(shape_of);
  if (o.every_class) {  // a row per class, the last sample of each chain across (Hinton et al. 2006's figure)
    if (!top.labeled()) throw rbm::data_error(o.model + ": --class all needs label units on the top layer");
    if (m.layers[0].gaussian()) throw rbm::data_error(o.model + ": --class all draws Bernoulli pictures");
    std::vector<std::vector<float>> columns(std::size_t(o.chains));
    for (int y = 0; y < top.classes; ++y) {
      const auto snaps =
          rbm::gibbs_snapshots(rbm::clamp_label(top, y), o.chains, o.steps, o.steps, nullptr, o.seed + std::uint64_t(y));
      const auto pixels = rbm::down_pass(m, snaps.back().data(), o.chains, o.seed + std::uint64_t(y));
      const std::size_t nv = std::size_t(m.layers[0].nv);
      for (int c = 0; c < o.chains; ++c)
        columns[std::size_t(c)].insert(columns[std::size_t(c)].end(), pixels.begin() + c * nv, pixels.begin() + (c + 1) * nv);
    }
    rbm::write_png(o.out, rbm::snapshot_sheet(columns, rows, cols, rbm::grey_range{}));
    std::printf("wrote %s: %d classes x %d samples (each after %d sweeps of the top RBM with its label clamped, "
                "then the down pass)\n", o.out.c_str(), top.classes, o.chains, o.steps);
    return 0;
  }
  if (o.label >= 0) {
    if (!top.labeled()) throw rbm::data_error(o.model + ": --class needs a stack with label units on its top layer");
    if (o.label >= top.classes)
      throw rbm::precondition_error("--class " + std::to_string(o.label) + ": the stack has classes 0 to " +
                                    std::to_string(top.classes - 1));
    top = rbm::clamp_label(top, o.label);
  }
  std::vector<float> start;
  if (o.from == "data") {  // held-out images taken up to the top's visible layer
    const rbm::dataset d = load_data(o.data, m.metadata);
    const rbm::image_set& set = d.test.count > 0 ? d.test : d.train;
    if (set.dim() != m.layers[0].nv) throw rbm::data_error(set.source + ": images do not match the stack's visible units");
    const std::vector<float> v = rbm::model_inputs(set, false, m.data_mean, m.data_sd);
    std::vector<float> picked;
    for (int c = 0; c < o.chains; ++c) {
      const std::size_t i = std::size_t(c) * set.count / o.chains;
      picked.insert(picked.end(), v.begin() + i * m.layers[0].nv, v.begin() + (i + 1) * m.layers[0].nv);
    }
    start = rbm::features_at(m, picked.data(), o.chains, int(m.layers.size()) - 1);
  }
  auto snaps = rbm::gibbs_snapshots(top, o.chains, o.steps, o.every, start.empty() ? nullptr : start.data(), o.seed);
  for (std::size_t k = 0; k < snaps.size(); ++k) snaps[k] = rbm::down_pass(m, snaps[k].data(), o.chains, o.seed + k);
  rbm::write_png(o.out, rbm::snapshot_sheet(snaps, rows, cols, rbm::grey_range{}));
  if (!o.values.empty()) rbm::write_matrix(o.values, "samples", snaps.back(), o.chains, m.layers[0].nv);
  std::printf("wrote %s: %d chains x %d snapshots (every %d of %d sweeps in the top RBM, each taken down %d layers)\n",
              o.out.c_str(), o.chains, int(snaps.size()), o.every, o.steps, int(m.layers.size()) - 1);
  return 0;
}

// Chains of a model of categorical visible units: each snapshot the states drawn, a chain a row of
// sites (grey: the state number), the last snapshot's states to --values (state numbers, float32).
int sample_sites(const sample_opts& o, const rbm::saved_model& m) {
  const rbm::model_params& p = m.params;
  if (o.label >= 0) throw rbm::data_error(o.model + ": --class needs a model with label units (rbm train --labels)");
  std::vector<float> start;
  if (o.from == "data") {
    const rbm::dataset d = rbm::one_hot(load_data(o.data, m.metadata), p.states);
    const rbm::image_set& set = applied_set(d, m);
    for (int c = 0; c < o.chains; ++c) {  // spread over the set
      const std::size_t i = std::size_t(c) * set.count / o.chains;
      start.insert(start.end(), set.values.begin() + i * p.nv, set.values.begin() + (i + 1) * p.nv);
    }
  }
  const auto snaps = rbm::gibbs_snapshots(p, o.chains, o.steps, o.every, start.empty() ? nullptr : start.data(), o.seed);
  rbm::write_png(o.out, rbm::snapshot_sheet(snaps, 1, p.sites(), {0.0f, float(p.states - 1)}));
  if (!o.values.empty()) rbm::write_matrix(o.values, "samples", snaps.back(), o.chains, p.sites());
  std::printf("wrote %s: %d chains of %d sites x %d snapshots (every %d of %d sweeps)%s\n", o.out.c_str(), o.chains,
              p.sites(), int(snaps.size()), o.every, o.steps, o.values.empty() ? "" : (", and " + o.values).c_str());
  return 0;
}

void register_sample(CLI::App& app, command_list& out) {
  using opts = sample_opts;
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("sample", "Gibbs chains from the model: one row per chain, snapshots along it");
  c->add_option("--model", o->model, "model.safetensors")->required();
  c->add_option("--chains", o->chains, "number of chains")->capture_default_str()
      ->check(integer_in(1, 10000));
  c->add_option("--steps", o->steps, "Gibbs sweeps per chain")->capture_default_str()
      ->check(integer_in(0, int_max));
  c->add_option("--every", o->every, "sweeps between snapshots")->capture_default_str()
      ->check(integer_in(1, int_max));
  c->add_option("--from", o->from, "noise | data (held-out images)")->capture_default_str();
  add_data_options(c, o->data);
  c->add_option("--seed", o->seed, "random seed")->capture_default_str()
      ->check(seed_value());
  c->add_option("--out", o->out, "output PNG")->capture_default_str();
  c->add_option("--values", o->values,
                "also write the chains' last visible means, in data units, to FILE.npy (categorical units: the "
                "states drawn, one column per site)");
  c->add_option_function<std::string>(
      "--class",
      [o](const std::string& v) {
        if (v == "all") {
          o->every_class = true;
          return;
        }
        const auto n = parse_ints(v, "--class");
        if (n.size() != 1 || n[0] < 0) throw rbm::precondition_error("--class takes a class number or 'all'");
        o->label = n[0];
      },
      "a model with labels: draw pictures of this class (the label clamped); 'all': a row per class");
  out.emplace_back(c, [o] {
    if (o->chains <= 0 || o->steps < 0 || o->every <= 0)
      throw rbm::precondition_error("--chains and --every must be positive and --steps non-negative");
    if (o->from != "noise" && o->from != "data") throw rbm::precondition_error("--from must be noise or data");
    if (rbm::is_stack_file(o->model) || o->every_class) return sample_stack(*o);
    rbm::saved_model m = tool_model(o->model, /*categorical_ok=*/true);
    if (m.params.categorical()) return sample_sites(*o, m);
    if (o->label >= 0) {
      if (!m.params.labeled())
        throw rbm::data_error(o->model + ": --class needs a model with label units (rbm train --labels)");
      if (o->label >= m.params.classes)
        throw rbm::precondition_error("--class " + std::to_string(o->label) + ": the model has classes 0 to " +
                                      std::to_string(m.params.classes - 1));
      m.params = rbm::clamp_label(m.params, o->label);
    }
    const auto [rows, cols] = image_shape(m);
    const int nv = m.params.nv;
    std::vector<float> mean, sd;
    standardization_of(o->model, nv, mean, sd);
    std::vector<float> start;
    if (o->from == "data") {
      const rbm::dataset d = load_data(o->data, m.metadata);
      const rbm::image_set& set = applied_set(d, m);
      const std::vector<float> v = model_values(set, mean, sd);
      // Spread the starting images over the set, as deeplearning.net's tutorial does.
      for (int c2 = 0; c2 < o->chains; ++c2) {
        const std::size_t i = std::size_t(c2) * set.count / o->chains;
        start.insert(start.end(), v.begin() + i * nv, v.begin() + (i + 1) * nv);
      }
    }
    std::vector<std::vector<float>> snaps =
        rbm::gibbs_snapshots(m.params, o->chains, o->steps, o->every, start.empty() ? nullptr : start.data(), o->seed);
    for (auto& s : snaps) to_data_units(s, mean, sd);
    // Real values are drawn over the range the chains reach after their start (noise would widen it).
    rbm::grey_range grey;
    if (m.params.gaussian()) {
      std::vector<float> later;
      for (std::size_t k = snaps.size() > 1 ? 1 : 0; k < snaps.size(); ++k) later.insert(later.end(), snaps[k].begin(), snaps[k].end());
      grey = rbm::range_of(later);
    }
    rbm::write_png(o->out, rbm::snapshot_sheet(snaps, rows, cols, grey));
    if (!o->values.empty()) rbm::write_matrix(o->values, "samples", snaps.back(), o->chains, nv);
    std::printf("wrote %s: %d chains x %d snapshots (every %d of %d sweeps)%s\n", o->out.c_str(), o->chains,
                int(snaps.size()), o->every, o->steps, o->values.empty() ? "" : (", and " + o->values).c_str());
    return 0;
  });
}

void register_filters(CLI::App& app, command_list& out) {
  struct opts {
    std::string model, out = "filters.png", units;
  };
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("filters", "the weights of all or chosen hidden units as picture tiles");
  c->add_option("--model", o->model, "model.safetensors")->required();
  c->add_option("--units", o->units, "comma-separated hidden units (default: all)");
  c->add_option("--out", o->out, "output PNG")->capture_default_str();
  out.emplace_back(c, [o] {
    const rbm::saved_model m = tool_model(o->model, /*categorical_ok=*/true);  // a row per site, a column per state
    const auto [rows, cols] = image_shape(m);
    const auto units = o->units.empty() ? std::vector<int>{} : parse_ints(o->units, "--units");
    rbm::write_png(o->out, rbm::tile_filters(m.params, rows, cols, units));
    std::printf("wrote %s (%zu filters of %dx%d)\n", o->out.c_str(), units.empty() ? std::size_t(m.params.nh) : units.size(),
                rows, cols);
    return 0;
  });
}

void register_features(CLI::App& app, command_list& out) {
  struct opts {
    std::string model, out, split = "train";
    int layer = 0;  // 0: the top
    data_options data;
  };
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("features", "hidden probabilities p(h | v) of a data set, for downstream models");
  c->add_option("--model", o->model, "model.safetensors (an RBM or a stack)")->required();
  c->add_option("--layer", o->layer, "a stack: the hidden units of layer i, counting from 1 at the data (default: the top)");
  add_data_options(c, o->data);
  c->add_option("--split", o->split, "train | test")->capture_default_str();
  c->add_option("--out", o->out, "FILE.npy or FILE.safetensors (tensor 'features')")->required();
  out.emplace_back(c, [o] {
    if (o->split != "train" && o->split != "test") throw rbm::precondition_error("--split must be train or test");
    if (rbm::is_stack_file(o->model)) {  // through the stack, up to --layer
      const rbm::stack_model m = rbm::load_stack(o->model);
      const int layers = int(m.layers.size()), layer = o->layer == 0 ? layers : o->layer;
      if (layer < 1 || layer > layers)
        throw rbm::precondition_error("--layer must be 1 to " + std::to_string(layers) + " (got " + std::to_string(layer) + ")");
      const rbm::dataset d = load_data(o->data, m.metadata);
      const rbm::image_set& set = o->split == "train" ? d.train : d.test;
      if (set.count == 0) throw rbm::data_error(d.name + ": has no " + o->split + " images");
      if (set.dim() != m.layers[0].nv)
        throw rbm::data_error(set.source + ": images do not match the stack's visible units");
      const std::vector<float> v = rbm::model_inputs(set, false, m.data_mean, m.data_sd);
      const std::vector<float> h = rbm::features_at(m, v.data(), set.count, layer);
      const int nh = m.layers[std::size_t(layer - 1)].nh;
      rbm::write_matrix(o->out, "features", h, set.count, nh);
      std::printf("wrote %s: features [%d, %d] of %s (layer %d of %d)\n", o->out.c_str(), set.count, nh,
                  set.source.c_str(), layer, layers);
      return 0;
    }
    if (o->layer > 1) throw rbm::precondition_error(o->model + ": a single RBM has one layer (--layer 1)");
    const rbm::saved_model m = rbm::load_model(o->model);  // categorical units too: their rows made one-hot
    const rbm::dataset raw = load_data(o->data, m.metadata);
    const rbm::dataset d = m.params.categorical() ? rbm::one_hot(raw, m.params.states) : raw;
    const rbm::image_set& set = o->split == "train" ? d.train : d.test;
    if (set.count == 0) throw rbm::data_error(d.name + ": has no " + o->split + " images");
    if (set.dim() != m.params.nv) throw rbm::data_error(set.source + ": images do not match the model's visible units");
    std::vector<float> h;
    if (m.params.categorical()) {
      h = rbm::hidden_probabilities_values(m.params, set.values.data(), set.count);
    } else if (m.params.gaussian() || set.real()) {  // real values, standardised as the model was trained
      std::vector<float> mean, sd;
      standardization_of(o->model, m.params.nv, mean, sd);
      const std::vector<float> v = model_values(set, mean, sd);
      h = rbm::hidden_probabilities_values(m.params, v.data(), set.count);
    } else {
      h = rbm::hidden_probabilities(m.params, set.pixels.data(), set.count);
    }
    rbm::write_matrix(o->out, "features", h, set.count, m.params.nh);
    std::printf("wrote %s: features [%d, %d] of %s\n", o->out.c_str(), set.count, m.params.nh, set.source.c_str());
    return 0;
  });
}

// --visible of a categorical model: a state per site ("0,2,1"), made one-hot [sites * states].
std::vector<float> parse_states(const std::string& s, const rbm::model_params& p) {
  std::vector<float> v(p.nv, 0.0f);
  const auto states = parse_ints(s, "--visible");
  if (int(states.size()) != p.sites())
    throw rbm::precondition_error("--visible has " + std::to_string(states.size()) + " states; the model has " +
                                  std::to_string(p.sites()) + " sites");
  for (int site = 0; site < p.sites(); ++site) {
    if (states[site] < 0 || states[site] >= p.states)
      throw rbm::precondition_error("--visible: site " + std::to_string(site) + " holds " + std::to_string(states[site]) +
                                    ", not a state in [0, " + std::to_string(p.states) + ")");
    v[std::size_t(site) * p.states + states[site]] = 1.0f;
  }
  return v;
}

void register_prob(CLI::App& app, command_list& out) {
  struct opts {
    std::string model, visible, hidden;
  };
  auto o = std::make_shared<opts>();
  auto* c = app.add_subcommand("prob", "the tutorial's p(h | v) and p(v | h) for one configuration");
  c->add_option("--model", o->model, "model.safetensors")->required();
  c->add_option("--visible", o->visible,
                "visible configuration, e.g. 1001000 (categorical units: a state per site, e.g. 0,2,1)")->required();
  c->add_option("--hidden", o->hidden, "hidden configuration, e.g. 11 (default: each p(h_j | v) rounded)");
  out.emplace_back(c, [o] {
    const rbm::saved_model m = tool_model(o->model, /*categorical_ok=*/true);
    const auto& p = m.params;
    if (p.hidden != rbm::unit_kind::bernoulli || p.gaussian())
      throw rbm::data_error(o->model + ": " +
                            (p.gaussian() ? std::string("gaussian visible") : rbm::to_string(p.hidden) + std::string(" hidden")) +
                            " units have densities, not the discrete probabilities this tool prints");
    const auto v = p.categorical() ? parse_states(o->visible, p) : parse_bits(o->visible, p.nv, "--visible");
    // Pre-activations summed in double, as the tutorial's numbers were checked.
    std::printf("p(h_j = 1 | v):");
    std::vector<float> ph(p.nh);
    for (int j = 0; j < p.nh; ++j) {
      double a = p.hb[j];
      for (int i = 0; i < p.nv; ++i) a += v[i] * p.w[std::size_t(i) * p.nh + j];
      ph[j] = rbm::sigmoid(float(a));
      std::printf(" %.8g", ph[j]);
    }
    std::printf("\n");
    std::vector<float> h(p.nh);
    if (o->hidden.empty()) {
      for (int j = 0; j < p.nh; ++j) h[j] = std::round(ph[j]);
    } else {
      h = parse_bits(o->hidden, p.nh, "--hidden");
    }
    double p_h = 1;
    for (int j = 0; j < p.nh; ++j) p_h *= h[j] > 0 ? ph[j] : 1 - ph[j];
    std::printf("p(h | v) for h = ");
    for (float x : h) std::printf("%d", int(x));
    std::printf(": %.10g\n", p_h);
    // Bernoulli: p(v_i = 1 | h) per unit; categorical: p(v_site = state | h), a site's states in turn.
    std::vector<double> a(p.nv);
    for (int i = 0; i < p.nv; ++i) {
      a[i] = p.vb[i];
      for (int j = 0; j < p.nh; ++j) a[i] += h[j] * p.w[std::size_t(i) * p.nh + j];
    }
    std::vector<float> pv(p.nv);
    if (p.categorical()) {
      std::vector<double> site(p.states);
      for (int s = 0; s < p.sites(); ++s) {
        rbm::softmax_units::mean(a.data() + std::size_t(s) * p.states, p.states, site.data());
        for (int k = 0; k < p.states; ++k) pv[std::size_t(s) * p.states + k] = float(site[k]);
      }
    } else {
      for (int i = 0; i < p.nv; ++i) pv[i] = rbm::sigmoid(float(a[i]));
    }
    std::printf(p.categorical() ? "p(v_site = state | h):" : "p(v_i = 1 | h):");
    double p_v = 1;
    for (int i = 0; i < p.nv; ++i) {
      std::printf(" %.8g", pv[i]);
      if (v[i] > 0) p_v *= pv[i];
      else if (!p.categorical()) p_v *= 1 - pv[i];
    }
    std::printf("\np(v | h) for the given v: %.10g\n", p_v);
    return 0;
  });
}

}  // namespace

void register_tools(CLI::App& app, command_list& out) {
  register_reconstruct(app, out);
  register_sample(app, out);
  register_filters(app, out);
  register_features(app, out);
  register_prob(app, out);
}

}  // namespace rbm_cli
