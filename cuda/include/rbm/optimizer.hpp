// How a gradient moves the parameters: the one place for the update rules the CD step, the label step
// and fine-tuning share, RBM_HD so that device kernels can use them too.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "rbm/math.hpp"

namespace rbm {

// SGD with momentum (vel = momentum vel + lr g; w += vel; the CD step's classic rule), or Adam
// (Kingma & Ba 2015; beta1 0.9, beta2 0.999, eps 1e-8; `momentum` unused).
enum class optimizer { sgd, adam };

// Each optimizer's name, indexed by the enum: the one place files, options and the binding spell it.
inline constexpr const char* optimizer_names[] = {"sgd", "adam"};
inline const char* to_string(optimizer o) { return optimizer_names[int(o)]; }
// The optimizer called `name`; false for any other name (never read as one of them).
inline bool parse_optimizer(std::string_view name, optimizer& out) {
  for (int i = 0; i < 2; ++i)
    if (name == optimizer_names[i]) {
      out = optimizer(i);
      return true;
    }
  return false;
}

// One Adam step of a parameter moving along g (an ascent direction for the CD and label steps, the
// negative loss gradient for fine-tuning): m = beta1 m + (1 - beta1) g, s = beta2 s + (1 - beta2) g^2,
// the step rate m / (sqrt(s) + eps) with rate = lr sqrt(1 - beta2^t) / (1 - beta1^t) (the bias
// corrections folded into the rate) at the t-th update (t >= 1).
struct adam_rule {
  static constexpr double beta1 = 0.9, beta2 = 0.999;
  static constexpr float eps = 1e-8f;
  float rate = 0;

  RBM_HD static adam_rule at(double lr, std::uint64_t t) {  // also on the device (adam_advance)
    return {float(lr * sqrt(1.0 - pow(beta2, double(t))) / (1.0 - pow(beta1, double(t))))};
  }
  RBM_HD float step(float g, float& m, float& s) const {
    m = float(beta1) * m + float(1 - beta1) * g;
    s = float(beta2) * s + float(1 - beta2) * g * g;
    return rate * m / (sqrtf(s) + eps);
  }
};

}  // namespace rbm
