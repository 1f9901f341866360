// query_devices in a build without the CUDA toolkit (CMake RBM_CUDA): no devices, and why.
#include "rbm/device_info.hpp"

namespace rbm {

device_report query_devices() {
  device_report r;
  r.reason = "this build of rbm has no CUDA backend (configured without a CUDA toolkit; CMake option RBM_CUDA)";
  return r;
}

}  // namespace rbm
