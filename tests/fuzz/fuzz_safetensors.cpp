// libFuzzer target: the safetensors reader, and the model metadata read from it, must accept or throw an
// rbm::error, never crash or leak.
#include <cstdint>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const rbm::tensor_file f = rbm::parse_tensors("fuzz", std::vector<std::uint8_t>(data, data + size));
    for (const auto& [name, t] : f.tensors) {
      std::size_t n = 1;
      for (auto d : t.shape) n *= std::size_t(d);
      if (n != t.data.size()) __builtin_trap();  // accepted means consistent
    }
    // The metadata a model's loaders read (unit kinds, classes, the picture shape), outside the CRC.
    const rbm::saved_model m = rbm::model_from_tensors("fuzz", f);
    const auto [rows, cols] = rbm::picture_shape(m);
    if (rows <= 0 || cols <= 0 || std::int64_t(rows) * cols != m.params.nv) __builtin_trap();
  } catch (const rbm::error&) {
  }
  return 0;
}
