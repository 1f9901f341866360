// libFuzzer target: the picture loader (stb_image behind our checks) must accept or throw, never crash.
#include <cstdint>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/tools.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto img = rbm::decode_picture("fuzz", std::vector<std::uint8_t>(data, data + size), 28, 28, false);
    if (img.size() != 784) __builtin_trap();
  } catch (const rbm::error&) {
  }
  return 0;
}
