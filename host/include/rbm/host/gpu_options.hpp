// The CUDA backend's settings, apart from the backend itself: the trainer and the CLI take them in
// every build, also one without the CUDA backend (where make_backend never uses them).
#pragma once

#include <string>

#include "rbm/gemm.hpp"

namespace rbm {

struct gpu_options {
  gemm_mode mode = gemm_mode::fp32;
  std::string resident = "auto";  // auto | on | off: keep the training set on the device
  bool use_graph = true;
  int device = 0;
};

}  // namespace rbm
