// query_devices: the GPUs the CUDA runtime sees, or the runtime's reason for seeing none.
#include "rbm/device_info.hpp"

#include <cuda_runtime_api.h>

namespace rbm {

device_report query_devices() {
  device_report r;
  cudaRuntimeGetVersion(&r.runtime_version);
  cudaDriverGetVersion(&r.driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    r.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return r;
  }
  if (count == 0) {
    r.reason = "the CUDA runtime reports zero devices";
    return r;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    r.devices.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  if (r.devices.empty()) r.reason = "no device's properties could be read";
  return r;
}

}  // namespace rbm
