// The GEMM modes' names (rbm::core: the CLI parses them in a build without CUDA too).
#include <cstring>
#include <string>

#include "rbm/error.hpp"
#include "rbm/gemm.hpp"

namespace rbm {

const char* to_string(gemm_mode m) {
  switch (m) {
    case gemm_mode::fp32: return "fp32";
    case gemm_mode::tf32: return "tf32";
    case gemm_mode::bf16: return "bf16";
  }
  return "?";
}

gemm_mode parse_gemm_mode(const char* s) {
  if (std::strcmp(s, "fp32") == 0) return gemm_mode::fp32;
  if (std::strcmp(s, "tf32") == 0) return gemm_mode::tf32;
  if (std::strcmp(s, "bf16") == 0) return gemm_mode::bf16;
  throw precondition_error(std::string("GEMM mode must be fp32, tf32 or bf16 (got '") + s + "')");
}

}  // namespace rbm
