// The backends a build has, each behind one entry: the CPU backend always (backend_factory.cpp), the
// GPU one from the file CMake compiled for it — cuda_backend.cpp where the CUDA backend is built,
// no_gpu_backend.cpp (an entry that says it is not) otherwise. The factory chooses among entries and
// never asks the preprocessor which exist.
#pragma once

#include <memory>

#include "rbm/cd_config.hpp"
#include "rbm/host/backend.hpp"
#include "rbm/host/gpu_options.hpp"

namespace rbm::detail {

struct gpu_backend_entry {
  bool built = false;
  // Throws cuda_error where the device cannot be used, out_of_memory where the model does not fit.
  std::unique_ptr<backend> (*make)(const cd_config& cfg, int max_batch, const gpu_options& gpu) = nullptr;
};

const gpu_backend_entry& gpu_backend();

}  // namespace rbm::detail
