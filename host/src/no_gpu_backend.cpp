// The GPU entry of a build without the CUDA backend (CMake RBM_CUDA off or no toolkit): not built.
#include "backend_registry.hpp"

namespace rbm::detail {

const gpu_backend_entry& gpu_backend() {
  static const gpu_backend_entry none{};
  return none;
}

}  // namespace rbm::detail
