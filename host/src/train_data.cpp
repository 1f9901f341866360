// Data as the model reads them: real values for Gaussian units, standardisation, the validation split,
// the rows a model's inputs are, and classifying labelled rows.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/categorical_data.hpp"
#include "rbm/host/classification.hpp"
#include "train_parts.hpp"

namespace rbm {
namespace detail {

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


}  // namespace detail

int states_in(const dataset& d) {
  float top = 0;
  for (const image_set* set : {&d.train, &d.test}) {
    if (set->count > 0 && !set->real())
      throw data_error(set->source + ": categorical visible units read integer states from .npy files, not pictures");
    for (const float *x = set->value_data(), *end = x + std::size_t(set->count) * set->dim(); x != end; ++x)
      top = std::max(top, *x);
  }
  return int(top) + 1;
}

dataset one_hot(const dataset& d, int q) {
  dataset r = d;
  for (auto* set : {&r.train, &r.test}) {
    if (set->count == 0) continue;
    const int sites = set->dim();
    const float* x = set->value_data();
    std::vector<float> v(std::size_t(set->count) * sites * q, 0.0f);
    for (std::size_t g = 0, n = std::size_t(set->count) * sites; g < n; ++g) {
      const float s = x[g];
      if (!(s >= 0 && s < float(q) && s == float(int(s))))
        throw data_error(set->source + ": row " + std::to_string(g / sites) + ", column " + std::to_string(g % sites) +
                         " holds " + detail::shown(s) + ", not a state in [0, " + std::to_string(q) + ")");
      v[g * q + std::size_t(s)] = 1.0f;
    }
    set->values = std::move(v);
    set->borrowed = nullptr;
    set->rows = 1;
    set->cols = sites * q;
  }
  return r;
}


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


std::vector<float> model_inputs(const image_set& s, bool binarize, const std::vector<float>& mean,
                                const std::vector<float>& sd) {
  const std::size_t dim = std::size_t(s.dim()), n = std::size_t(s.count) * dim;
  std::vector<float> v(n);
  if (s.real()) {
    RBM_EXPECTS(s.device_values == nullptr);
    std::copy_n(s.value_data(), n, v.data());
  } else {
    for (std::size_t i = 0; i < n; ++i) v[i] = pixel_to_unit(binarize ? binary_pixel(s.pixels[i]) : s.pixels[i]);
  }
  if (!mean.empty()) {
    RBM_EXPECTS(mean.size() == dim && sd.size() == dim);
    for (std::size_t k = 0; k < n; ++k) v[k] = (v[k] - mean[k % dim]) / sd[k % dim];
  }
  return v;
}

}  // namespace rbm
