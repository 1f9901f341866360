// Shared by the stack suites (CPU and GPU): a small two-layer plan, its labelled variant, layer 2's input
// computed by hand, a stop in the middle of layer 2, and random stacks of any kinds (fine-tuning's).
#pragma once

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "rbm/host/stack.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm_test {

inline rbm::stack_options small_stack(const std::string& out, const std::string& device = "cpu") {
  rbm::stack_options o;
  o.base.cd.lr = 0.1f;
  o.base.cd.momentum = 0.5f;
  o.base.cd.seed = 21;
  o.base.batch = 50;
  o.base.device = device;
  o.base.out_dir = out;
  o.hidden = {40, 30};
  o.epochs = {2, 3};
  return o;
}

// 100-60 with a label group on top, trained hybrid: enough to classify the digits well above chance.
inline rbm::stack_options labelled_stack(const std::string& device = "cpu") {
  rbm::stack_options o = small_stack("", device);
  o.hidden = {100, 60};
  o.epochs = {3, 5};
  o.lr = {0.1f, 0.5f};
  o.base.batch = 20;
  o.base.labels = true;
  o.base.objective = "hybrid";
  o.base.alpha = 0.1f;
  return o;
}

// Layer 2's input by hand: layer 1's hidden units (p, or states drawn as train_stack draws them) of the
// training and held-out rows of `d`, labels kept.
inline rbm::dataset second_layer_input(const rbm::dataset& d, const rbm::stack_options& o, const rbm::model_params& one) {
  rbm::dataset up;
  up.name = d.name + " (layer 2 input)";
  for (int s = 0; s < 2; ++s) {
    const rbm::image_set& from = s == 0 ? d.train : d.test;
    const auto v = rbm::model_inputs(from, false, {}, {});
    rbm::image_set& to = s == 0 ? up.train : up.test;
    to.values = rbm::propagate_up(one, v.data(), from.count, o.propagate_samples,
                                  rbm::layer_options(o, 0).cd.seed + std::uint64_t(s));
    to.count = from.count;
    to.rows = 1;
    to.cols = one.nh;
    to.labels = from.labels;
  }
  return up;
}

// Sets `stop` after batch 5 of epoch 2 of layer 2.
inline void stop_in_second_layer(rbm::stack_options& o, std::atomic<bool>& stop, int& layer) {
  o.on_layer = [&layer](int l, int) { layer = l; };
  o.base.stop = &stop;
  o.base.on_batch = [&stop, &layer](const rbm::batch_report& b) {
    if (layer == 1 && b.epoch == 2 && b.batch == 5) stop = true;
  };
}

// Layer i has hidden units kinds[i] (Bernoulli where not given) and, above continuous ones, Gaussian
// visible units with sigma 1, as a stack trains them.
inline std::vector<rbm::model_params> random_stack(const std::vector<int>& sizes, int classes, float scale, unsigned seed,
                    const std::vector<rbm::unit_kind>& kinds = {}) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, scale);
  std::vector<rbm::model_params> layers;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const bool over_continuous = i > 0 && i - 1 < kinds.size() && kinds[i - 1] != rbm::unit_kind::bernoulli;
    rbm::model_params p(sizes[i], sizes[i + 1], over_continuous ? rbm::unit_kind::gaussian : rbm::unit_kind::bernoulli);
    if (i < kinds.size()) p.hidden = kinds[i];
    for (float& w : p.w) w = n(gen);
    for (float& b : p.hb) b = n(gen);
    layers.push_back(p);
  }
  if (classes > 0) {
    layers.back().add_labels(classes);
    for (float& w : layers.back().label_w) w = n(gen);
    for (float& b : layers.back().label_b) b = n(gen);
  }
  return layers;
}


}  // namespace rbm_test
