// The vectors of a training_state, each with its one name (in checkpoints and in the Python binding's
// state dictionary) and the parameter it moves with, whose size and shape it has: the one list that
// the checkpoint writer and reader and the binding walk, so a new piece of optimiser state is one line.
#pragma once

#include <cstdint>
#include <vector>

#include "rbm/cd_config.hpp"
#include "rbm/host/model_params.hpp"

namespace rbm {

struct state_tensor {
  const char* name;
  std::vector<float> training_state::*member;
  std::vector<float> model_params::*param;
  bool required;  // in every resumable checkpoint (the momentum of W and the biases); else where non-empty
};

inline const state_tensor state_tensors[] = {
    {"vel_W", &training_state::vel_w, &model_params::w, true},
    {"vel_vb", &training_state::vel_vb, &model_params::vb, true},
    {"vel_hb", &training_state::vel_hb, &model_params::hb, true},
    {"vel_log_sigma", &training_state::vel_log_sigma, &model_params::sigma, false},
    {"vel_label_W", &training_state::vel_label_w, &model_params::label_w, false},
    {"vel_label_b", &training_state::vel_label_b, &model_params::label_b, false},
    {"sq_W", &training_state::sq_w, &model_params::w, false},
    {"sq_vb", &training_state::sq_vb, &model_params::vb, false},
    {"sq_hb", &training_state::sq_hb, &model_params::hb, false},
    {"sq_log_sigma", &training_state::sq_log_sigma, &model_params::sigma, false},
    {"sq_label_W", &training_state::sq_label_w, &model_params::label_w, false},
    {"sq_label_b", &training_state::sq_label_b, &model_params::label_b, false},
};

// Its shape: [rows, nh] for the weight matrices' state (W's and the label group's), else one axis.
inline std::vector<std::int64_t> state_tensor_shape(const state_tensor& t, const model_params& p) {
  const auto n = std::int64_t((p.*t.param).size());
  if (t.param == &model_params::w || t.param == &model_params::label_w) return {n / p.nh, p.nh};
  return {n};
}

}  // namespace rbm
