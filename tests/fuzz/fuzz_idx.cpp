// libFuzzer target: the IDX reader (raw and gzip) must accept or throw data_error, never crash or leak.
#include <cstdint>
#include <vector>

#include "rbm/host/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const rbm::image_set s = rbm::parse_idx_images("fuzz", std::vector<std::uint8_t>(data, data + size));
    if (s.pixels.size() != std::size_t(s.count) * s.rows * s.cols) __builtin_trap();  // accepted means consistent
  } catch (const rbm::error&) {
  }
  return 0;
}
