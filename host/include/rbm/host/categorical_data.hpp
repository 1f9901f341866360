// Data for categorical visible units: integer states per column of a .npy matrix, made one-hot (the
// state index fastest), as training, evaluation and the tools read them.
#pragma once

#include "rbm/host/idx.hpp"

namespace rbm {

// The states a data set's integer values need: the largest + 1 (data_error for pictures).
int states_in(const dataset& d);
// Its rows as one-hot values [count, sites * q], every value checked to be an integer in [0, q)
// (data_error naming the file, row and column).
dataset one_hot(const dataset& d, int q);

}  // namespace rbm
