// The model apart from where it runs: its spec and parameters in plain host types. Every backend, file
// format, tool and the Python binding speak it; it depends on nothing but the unit kinds.
#pragma once

#include <cstddef>
#include <vector>

#include "rbm/units.hpp"

namespace rbm {

// A model apart from where it runs: its spec (sizes, the visible and the hidden units' kinds) and its
// parameters in host memory. W is [nv, nh] row-major; sigma [nv] holds the
// standard deviations of Gaussian visible units (empty for other kinds). Categorical visible units:
// `states` Q per site, nv = sites x Q one-hot units with the state index fastest (W [sites * Q, nh]).
// A label group (a class RBM, Larochelle & Bengio 2008): `classes` softmax units beside the visible
// ones, one-hot, with weights label_w [classes, nh] to the hidden layer and biases label_b [classes].
struct model_params {
  int nv = 0, nh = 0;
  unit_kind visible = unit_kind::bernoulli;
  int states = 0;  // categorical visible units: Q (nv a multiple of it); 0 for other kinds
  unit_kind hidden = unit_kind::bernoulli;  // bernoulli, gaussian or relu (rbm/units.hpp)
  std::vector<float> w, vb, hb, sigma;
  int classes = 0;                      // 0: no label group
  std::vector<float> label_w, label_b;  // [classes, nh], [classes]

  model_params() = default;
  model_params(int nv_, int nh_, unit_kind visible_ = unit_kind::bernoulli)
      : nv(nv_), nh(nh_), visible(visible_), w(std::size_t(nv_) * nh_), vb(nv_), hb(nh_),
        sigma(visible_ == unit_kind::gaussian ? std::size_t(nv_) : 0, 1.0f) {}
  bool gaussian() const noexcept { return visible == unit_kind::gaussian; }
  bool categorical() const noexcept { return visible == unit_kind::categorical; }
  // Visible variables: sites of Q one-hot units for categorical units, else every unit.
  int sites() const noexcept { return categorical() && states > 0 ? nv / states : nv; }
  bool labeled() const noexcept { return classes > 0; }
  // Adds a label group of k classes, its weights and biases 0.
  void add_labels(int k) {
    classes = k;
    label_w.assign(std::size_t(k) * nh, 0.0f);
    label_b.assign(std::size_t(k), 0.0f);
  }
};

}  // namespace rbm
