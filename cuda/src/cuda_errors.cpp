// Turns CUDA, cuRAND and cuBLAS status codes into rbm exceptions with readable names.
#include "rbm/error.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <curand.h>

#include <string>

namespace rbm::detail {
namespace {

std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " at " + file + ":" + std::to_string(line);
}

const char* curand_name(int status) {
  switch (status) {
    case CURAND_STATUS_VERSION_MISMATCH: return "CURAND_STATUS_VERSION_MISMATCH";
    case CURAND_STATUS_NOT_INITIALIZED: return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED: return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_TYPE_ERROR: return "CURAND_STATUS_TYPE_ERROR";
    case CURAND_STATUS_OUT_OF_RANGE: return "CURAND_STATUS_OUT_OF_RANGE";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE: return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_DOUBLE_PRECISION_REQUIRED: return "CURAND_STATUS_DOUBLE_PRECISION_REQUIRED";
    case CURAND_STATUS_LAUNCH_FAILURE: return "CURAND_STATUS_LAUNCH_FAILURE";
    case CURAND_STATUS_PREEXISTING_FAILURE: return "CURAND_STATUS_PREEXISTING_FAILURE";
    case CURAND_STATUS_INITIALIZATION_FAILED: return "CURAND_STATUS_INITIALIZATION_FAILED";
    case CURAND_STATUS_ARCH_MISMATCH: return "CURAND_STATUS_ARCH_MISMATCH";
    case CURAND_STATUS_INTERNAL_ERROR: return "CURAND_STATUS_INTERNAL_ERROR";
    default: return "unknown cuRAND status";
  }
}

}  // namespace

void throw_cuda(int code, const char* call, const char* file, int line) {
  const auto err = static_cast<cudaError_t>(code);
  const std::string msg = std::string("CUDA error ") + cudaGetErrorName(err) + " (" +
                          cudaGetErrorString(err) + ") in " + where(call, file, line);
  if (err == cudaErrorMemoryAllocation) throw out_of_memory(msg, code, 0);
  throw cuda_error(msg, code);
}

void throw_curand(int status, const char* call, const char* file, int line) {
  throw curand_error(std::string("cuRAND error ") + curand_name(status) + " in " + where(call, file, line),
                     status);
}

void throw_cublas(int status, const char* call, const char* file, int line) {
  throw cublas_error(std::string("cuBLAS error ") +
                         cublasGetStatusName(static_cast<cublasStatus_t>(status)) + " in " +
                         where(call, file, line),
                     status);
}

}  // namespace rbm::detail
