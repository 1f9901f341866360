// What CUDA devices this process can use, or why it can use none. Never throws for "no GPU".
#pragma once

#include <string>
#include <vector>

namespace rbm {

struct device_description {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;         // compute capability
  std::size_t total_memory = 0;     // bytes
};

struct device_report {
  std::vector<device_description> devices;
  std::string reason;               // why `devices` is empty (driver's own words), else empty
  int runtime_version = 0;          // cudaRuntimeGetVersion
  int driver_version = 0;           // cudaDriverGetVersion; 0 when no driver is installed
};

device_report query_devices();

}  // namespace rbm
