// train_stack's propagation on the GPU (stack_device.hpp): the layer's weights copied up, then
// rbm::propagate_rows on a stream of its own; the rows stay in device memory.
#include "stack_device.hpp"

#include <cuda_runtime_api.h>

#include "rbm/error.hpp"
#include "rbm/propagate.hpp"

namespace rbm::detail {

struct device_rows::impl {
  cuda_stream stream;  // first: the buffers below free in its order, so it must outlive them
  device_buffer<float> rows_buf;
  int rows = 0, cols = 0;
};

bool device_rows::built() { return true; }
device_rows::device_rows() = default;
device_rows::~device_rows() = default;
device_rows::device_rows(device_rows&&) noexcept = default;
device_rows& device_rows::operator=(device_rows&&) noexcept = default;

const float* device_rows::data() const { return impl_ ? impl_->rows_buf.data() : nullptr; }
int device_rows::rows() const { return impl_ ? impl_->rows : 0; }
int device_rows::cols() const { return impl_ ? impl_->cols : 0; }

std::vector<float> device_rows::to_host() const {
  std::vector<float> out(std::size_t(rows()) * cols());
  if (out.empty()) return out;
  RBM_CUDA_CHECK(cudaMemcpyAsync(out.data(), data(), out.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                 impl_->stream.get()));
  impl_->stream.view().synchronize();
  return out;
}

device_rows device_rows::propagate(const model_params& p, const float* v, bool on_device, int rows, bool sample,
                                   std::uint64_t philox_seed, const gpu_options& gpu) {
  RBM_EXPECTS(p.nv > 0 && p.nh > 0 && rows > 0 && v != nullptr);
  RBM_CUDA_CHECK(cudaSetDevice(gpu.device));
  device_rows r;
  r.impl_ = std::make_unique<impl>();
  impl& m = *r.impl_;
  const stream_view s = m.stream.view();
  auto upload = [&](const float* host, std::size_t n) {
    device_buffer<float> b(n, s);
    RBM_CUDA_CHECK(cudaMemcpyAsync(b.data(), host, n * sizeof(float), cudaMemcpyHostToDevice, s.get()));
    return b;
  };
  const device_buffer<float> w = upload(p.w.data(), p.w.size()), hb = upload(p.hb.data(), p.hb.size());
  device_buffer<float> sigma;
  if (p.gaussian()) sigma = upload(p.sigma.data(), p.sigma.size());
  device_buffer<float> input;
  if (!on_device) {
    input = upload(v, std::size_t(rows) * p.nv);
    v = input.data();
  }
  m.rows_buf = device_buffer<float>(std::size_t(rows) * p.nh, s);
  m.rows = rows;
  m.cols = p.nh;
  const cublas_handle blas(s);
  propagate_rows(blas, gpu.mode, layer_view{p.nv, p.nh, w.data(), hb.data(), p.gaussian() ? sigma.data() : nullptr},
                 v, rows, sample, philox_seed, 0, m.rows_buf.data(), s);
  s.synchronize();  // the rows are complete before another stream (the next layer's backend) reads them
  return r;
}

}  // namespace rbm::detail
