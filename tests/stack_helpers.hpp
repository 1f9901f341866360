// Shared by the stack suites (CPU and GPU): a small two-layer plan, its labelled variant, layer 2's input
// computed by hand, and a stop in the middle of layer 2.
#pragma once

#include <atomic>
#include <string>

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

}  // namespace rbm_test
