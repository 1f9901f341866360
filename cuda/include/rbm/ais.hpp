// Annealed importance sampling (Salakhutdinov & Murray 2008) from a base-rate model: the options, the
// result and the annealing schedule, shared by the CPU implementation (host/src/evaluation.cpp) and
// the device one (rbm::model::ais_log_z), which draw the same uniforms in the same order.
#pragma once

#include <cstdint>
#include <vector>

#include "rbm/units.hpp"

namespace rbm {

struct ais_options {
  int runs = 100;        // independent annealing runs (importance samples)
  int steps = 14500;     // intermediate distributions (Salakhutdinov & Murray's schedule when 14500)
  std::uint64_t seed = 1;
};

struct ais_result {
  double log_z = 0;           // log of the mean importance weight + log Z of the base model
  double log_z_low = 0;       // log(mean - 3 standard errors) (-inf when that is not positive)
  double log_z_high = 0;      // log(mean + 3 standard errors)
  double log_z_base = 0;
  int runs = 0, steps = 0;
};

// The annealing schedule: `steps` inverse temperatures from 0 to 1 inclusive. For 14500 steps it is
// the paper's: 500 in [0, 0.5), 4000 in [0.5, 0.9), 10000 in [0.9, 1]; otherwise the same proportions.
std::vector<double> ais_betas(int steps);

// log Z and its interval from the runs' log weights and the base model's visible bias (W = 0, hidden
// bias 0, so log Z_A = nh log 2 + sum_i softplus(bA_i)).
ais_result ais_summarise(const std::vector<double>& log_weights, const std::vector<float>& base_vb, int nh, int steps);
// The same for hidden units of any kind (rbm/units.hpp): each contributes its log integral at input 0
// to the base model's log Z (log 2 for Bernoulli units: the overload above).
ais_result ais_summarise(const std::vector<double>& log_weights, const std::vector<float>& base_vb, int nh, int steps,
                         unit_kind hidden);
// The same with the base model's log Z given.
ais_result ais_summarise(const std::vector<double>& log_weights, double log_z_base, int steps);

}  // namespace rbm
