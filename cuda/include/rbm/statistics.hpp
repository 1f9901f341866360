// Per-feature statistics of a data set on the device (what --standardize needs), through Thrust.
#pragma once

#include "rbm/resources.hpp"

namespace rbm {

// The mean and standard deviation (population, over `rows`) of each column of data [rows, cols]
// (device, row-major) into mean [cols] and sd [cols] (host), summed in double: two Thrust
// reduce_by_key passes over the columns. A column that does not vary (variance <= 1e-12) gets
// sd = 1, so that standardising centres it and never divides by zero (as fit_independent_gaussians on
// the CPU). Synchronises `s`. Throws cuda_error when Thrust reports a CUDA failure.
void column_mean_sd(const float* data, int rows, int cols, float* mean, float* sd, stream_view s);

}  // namespace rbm
