// A stack's layer inputs kept in GPU memory (private to train_stack): where a layer trained on the CUDA
// backend, its hidden units for the training rows are computed on that GPU (rbm/propagate.hpp) and the
// layer above trains on them in place, so they never travel through host memory. Builds without the
// CUDA backend have the type but cannot make one (built() is false).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/gpu_options.hpp"

namespace rbm::detail {

class device_rows {
 public:
  static bool built();
  device_rows();
  ~device_rows();
  device_rows(device_rows&&) noexcept;
  device_rows& operator=(device_rows&&) noexcept;

  // The layer above's input for `rows` rows v of p's visible units, which are in host memory
  // (on_device false: copied up first) or in this GPU's memory (e.g. another device_rows' data()):
  // p(h | v), or with `sample` states drawn with the uniforms 0, 1, ... of the Philox sequence for
  // `philox_seed` (propagate_up's draws). On the GPU of `gpu`, with its GEMM mode; returns once the
  // rows are in place. Throws precondition_error in a build without the CUDA backend.
  static device_rows propagate(const model_params& p, const float* v, bool on_device, int rows, bool sample,
                               std::uint64_t philox_seed, const gpu_options& gpu);

  const float* data() const;  // device memory [rows, cols]
  int rows() const;
  int cols() const;
  std::vector<float> to_host() const;  // a copy of every row

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rbm::detail
