// Grid-size arithmetic and the post-launch check, in one place for every launcher.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>

#include "rbm/error.hpp"

namespace rbm::detail {

constexpr int block_size = 256;

// Enough blocks to cover n with grid-stride loops, capped so that huge n do not launch millions.
inline unsigned grid_for(std::size_t n, int block = block_size) {
  const std::size_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, 65535u * 8)));
}

// Throws cuda_error naming the kernel if its launch failed.
inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda(static_cast<int>(err), kernel, file, line);
}

}  // namespace rbm::detail

#define RBM_CHECK_LAUNCH(kernel) ::rbm::detail::check_launch(#kernel, __FILE__, __LINE__)
