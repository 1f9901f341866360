// column_mean_sd: Thrust's reduce_by_key over the columns of a row-major matrix, read column by column
// through a transform iterator (key = column), in double. Kept in its own file: Thrust's templates are
// heavy to compile and nothing else needs them.
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>
#include <thrust/system_error.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/statistics.hpp"

namespace rbm {
namespace {

// Position i of the column-major walk: column i / rows, row i % rows.
struct column_key {
  long long rows;
  __host__ __device__ long long operator()(long long i) const { return i / rows; }
};

// The element at position i, minus its column's mean when `mean` is given, and squared then.
struct element {
  const float* data;
  const double* mean;
  long long rows, cols;
  __device__ double operator()(long long i) const {
    const long long c = i / rows, r = i % rows;
    const double x = data[r * cols + c];
    if (mean == nullptr) return x;
    const double e = x - mean[c];
    return e * e;
  }
};

}  // namespace

void column_mean_sd(const float* data, int rows, int cols, float* mean, float* sd, stream_view s) {
  RBM_EXPECTS(data != nullptr && rows > 0 && cols > 0 && mean != nullptr && sd != nullptr);
  const long long n = static_cast<long long>(rows) * cols;
  try {
    const auto policy = thrust::cuda::par.on(s.get());
    // Stream-ordered buffers on `s` (a device_vector would fill them on the default stream, unordered
    // with a non-blocking `s`); reduce_by_key writes every element of its output.
    device_buffer<double> sums(cols, s), dev_mean(cols, s);
    const auto sums_out = thrust::device_pointer_cast(sums.data());
    const thrust::counting_iterator<long long> first(0);
    const auto keys = thrust::make_transform_iterator(first, column_key{rows});
    const auto values = thrust::make_transform_iterator(first, element{data, nullptr, rows, cols});
    thrust::reduce_by_key(policy, keys, keys + n, values, thrust::make_discard_iterator(), sums_out);
    std::vector<double> m(cols), q(cols);
    double* d_sums = sums.data();
    RBM_CUDA_CHECK(cudaMemcpyAsync(m.data(), d_sums, cols * sizeof(double), cudaMemcpyDeviceToHost, s.get()));
    s.synchronize();
    for (double& x : m) x /= rows;
    RBM_CUDA_CHECK(cudaMemcpyAsync(dev_mean.data(), m.data(), cols * sizeof(double),
                                   cudaMemcpyHostToDevice, s.get()));
    const auto deviations =
        thrust::make_transform_iterator(first, element{data, dev_mean.data(), rows, cols});
    thrust::reduce_by_key(policy, keys, keys + n, deviations, thrust::make_discard_iterator(), sums_out);
    RBM_CUDA_CHECK(cudaMemcpyAsync(q.data(), d_sums, cols * sizeof(double), cudaMemcpyDeviceToHost, s.get()));
    s.synchronize();
    for (int c = 0; c < cols; ++c) {
      const double var = q[c] / rows;
      mean[c] = static_cast<float>(m[c]);
      sd[c] = var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f;
    }
  } catch (const thrust::system_error& e) {
    throw cuda_error(std::string("column statistics on the device (Thrust): ") + e.what(), e.code().value());
  }
}

}  // namespace rbm
