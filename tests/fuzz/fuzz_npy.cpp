// libFuzzer target: the .npy reader (matrices and label vectors) must accept or throw data_error,
// never crash or leak.
#include <cmath>
#include <cstdint>
#include <vector>

#include "rbm/host/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const rbm::npy_matrix m = rbm::parse_npy_matrix("fuzz", std::vector<std::uint8_t>(data, data + size));
    if (m.rows <= 0 || m.cols <= 0 || m.values.size() != std::size_t(m.rows) * m.cols) __builtin_trap();
    for (float x : m.values)
      if (!std::isfinite(x)) __builtin_trap();  // accepted means consistent and finite
  } catch (const rbm::error&) {
  }
  try {  // the same bytes as class labels: a vector of whole numbers in [0, 255]
    const std::vector<std::uint8_t> y = rbm::parse_npy_labels("fuzz", data, size);
    if (y.empty()) __builtin_trap();
  } catch (const rbm::error&) {
  }
  return 0;
}
