// The library's precondition failures as rbm exceptions (no CUDA: part of rbm::core). The CUDA,
// cuRAND and cuBLAS status codes are turned into exceptions in cuda_errors.cpp.
#include "rbm/error.hpp"

#include <string>

namespace rbm::detail {

void throw_precondition(const char* what, const char* file, int line) {
  throw precondition_error(std::string("precondition failed: ") + what + " at " + file + ":" +
                           std::to_string(line));
}

}  // namespace rbm::detail
