// Arrays that already live in GPU memory (a CUDA array handed over by the Python binding: CuPy,
// PyTorch, anything with __cuda_array_interface__ or DLPack): where they are, converting them to the
// float32 rows training reads, their summary and standardisation — all on the device, so a training
// set never travels through host memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rbm/resources.hpp"

namespace rbm {

// The element types a CUDA array may hold.
enum class element_type : std::uint8_t { f32, f64, f16, i8, i16, i32, i64, u8, u16, u32, u64, b8 };

// The device of a pointer into GPU memory (device or managed), or -1 for host memory and pointers the
// CUDA runtime does not know. Throws cuda_error.
int device_of(const void* p);

// Elements src[r * row_stride + c * col_stride] (strides in elements, non-negative) of type `t` ->
// float32 dst [rows, cols] row-major, on the device, queued on `s`.
void import_matrix(const void* src, element_type t, int rows, int cols, long long row_stride, long long col_stride,
                   float* dst, stream_view s);

// How many of data[0, n) are NaN or infinite, and the finite values' range. Synchronises `s`.
struct value_summary {
  long long nonfinite = 0;
  float min = 0, max = 0;
};
value_summary summarize_values(const float* data, std::size_t n, stream_view s);

// dst = (src - mean[c]) / sd[c] per column c of src [rows, cols] (device, row-major); mean and sd are
// host arrays [cols]. Rounded as the CPU's standardisation, (x - m) / s in float. Synchronises `s`.
void standardize_columns(const float* src, int rows, int cols, const float* mean, const float* sd, float* dst,
                         stream_view s);

}  // namespace rbm
