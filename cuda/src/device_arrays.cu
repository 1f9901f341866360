// CUDA arrays as training data: import (any element type and 2-D layout -> float32 rows), a summary
// (non-finite count and range, one Thrust transform_reduce) and per-column standardisation (Thrust
// transform). Its own file: Thrust's templates are heavy and only this needs them besides statistics.cu.
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system_error.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <cfloat>
#include <cstdint>
#include <string>

#include "rbm/device_arrays.hpp"
#include "rbm/error.hpp"

namespace rbm {
namespace {

template <class T>
__device__ float to_float(T x) {
  return static_cast<float>(x);
}
template <>
__device__ float to_float<__half>(__half x) {
  return __half2float(x);
}

template <class T>
struct strided_element {
  const T* src;
  long long cols, row_stride, col_stride;
  __device__ float operator()(long long i) const {
    const long long r = i / cols, c = i % cols;
    return to_float(src[r * row_stride + c * col_stride]);
  }
};

template <class T>
void import_as(const void* src, int rows, int cols, long long rs, long long cs, float* dst, stream_view s) {
  const long long n = static_cast<long long>(rows) * cols;
  const thrust::counting_iterator<long long> first(0);
  thrust::transform(thrust::cuda::par_nosync.on(s.get()), first, first + n, thrust::device_pointer_cast(dst),
                    strided_element<T>{static_cast<const T*>(src), cols, rs, cs});
}

struct summary {
  long long nonfinite;
  float min, max;
};
struct to_summary {
  __device__ summary operator()(float x) const {
    return isfinite(x) ? summary{0, x, x} : summary{1, FLT_MAX, -FLT_MAX};
  }
};
struct merge_summary {
  __device__ summary operator()(const summary& a, const summary& b) const {
    return {a.nonfinite + b.nonfinite, fminf(a.min, b.min), fmaxf(a.max, b.max)};
  }
};

struct standardize_element {
  const float *src, *mean, *sd;
  long long cols;
  __device__ float operator()(long long i) const {
    const long long c = i % cols;
    return __fdiv_rn(__fsub_rn(src[i], mean[c]), sd[c]);
  }
};

cuda_error thrust_failure(const char* what, const thrust::system_error& e) {
  return cuda_error(std::string(what) + " (Thrust): " + e.what(), e.code().value());
}

}  // namespace

int device_of(const void* p) {
  cudaPointerAttributes a{};
  const cudaError_t st = cudaPointerGetAttributes(&a, p);
  if (st == cudaErrorInvalidValue) {  // not a pointer the runtime knows
    (void)cudaGetLastError();
    return -1;
  }
  RBM_CUDA_CHECK(st);
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged ? a.device : -1;
}

void import_matrix(const void* src, element_type t, int rows, int cols, long long rs, long long cs, float* dst,
                   stream_view s) {
  RBM_EXPECTS(src != nullptr && dst != nullptr && rows > 0 && cols > 0 && rs >= 0 && cs >= 0);
  try {
    switch (t) {
      case element_type::f32: return import_as<float>(src, rows, cols, rs, cs, dst, s);
      case element_type::f64: return import_as<double>(src, rows, cols, rs, cs, dst, s);
      case element_type::f16: return import_as<__half>(src, rows, cols, rs, cs, dst, s);
      case element_type::i8: return import_as<std::int8_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::i16: return import_as<std::int16_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::i32: return import_as<std::int32_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::i64: return import_as<std::int64_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::u8: return import_as<std::uint8_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::u16: return import_as<std::uint16_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::u32: return import_as<std::uint32_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::u64: return import_as<std::uint64_t>(src, rows, cols, rs, cs, dst, s);
      case element_type::b8: return import_as<bool>(src, rows, cols, rs, cs, dst, s);
    }
  } catch (const thrust::system_error& e) {
    throw thrust_failure("importing a CUDA array", e);
  }
  throw precondition_error("import_matrix: unknown element type");
}

value_summary summarize_values(const float* data, std::size_t n, stream_view s) {
  RBM_EXPECTS(data != nullptr && n > 0);
  try {
    const auto p = thrust::device_pointer_cast(data);
    const summary r = thrust::transform_reduce(thrust::cuda::par.on(s.get()), p, p + n, to_summary{},
                                               summary{0, FLT_MAX, -FLT_MAX}, merge_summary{});
    return {r.nonfinite, r.min, r.max};
  } catch (const thrust::system_error& e) {
    throw thrust_failure("summarising a CUDA array", e);
  }
}

void standardize_columns(const float* src, int rows, int cols, const float* mean, const float* sd, float* dst,
                         stream_view s) {
  RBM_EXPECTS(src != nullptr && dst != nullptr && mean != nullptr && sd != nullptr && rows > 0 && cols > 0);
  try {
    device_buffer<float> m(cols, s), d(cols, s);
    RBM_CUDA_CHECK(cudaMemcpyAsync(m.data(), mean, cols * sizeof(float), cudaMemcpyHostToDevice, s.get()));
    RBM_CUDA_CHECK(cudaMemcpyAsync(d.data(), sd, cols * sizeof(float), cudaMemcpyHostToDevice, s.get()));
    const long long n = static_cast<long long>(rows) * cols;
    const thrust::counting_iterator<long long> first(0);
    thrust::transform(thrust::cuda::par_nosync.on(s.get()), first, first + n, thrust::device_pointer_cast(dst),
                      standardize_element{src, m.data(), d.data(), cols});
    s.synchronize();  // the host arrays and m, d are released after the work that reads them
  } catch (const thrust::system_error& e) {
    throw thrust_failure("standardising a CUDA array", e);
  }
}

}  // namespace rbm
