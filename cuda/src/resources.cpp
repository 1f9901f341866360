// The RAII resource types: every CUDA and cuBLAS call checked, nothing thrown from a destructor.
#include "rbm/resources.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "rbm/error.hpp"

namespace rbm {

void stream_view::synchronize() const { RBM_CUDA_CHECK(cudaStreamSynchronize(s_)); }

cuda_stream::cuda_stream() { RBM_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
cuda_stream::~cuda_stream() {
  if (s_ != nullptr) cudaStreamDestroy(s_);
}
cuda_stream& cuda_stream::operator=(cuda_stream&& o) noexcept {
  if (this != &o) {
    if (s_ != nullptr) cudaStreamDestroy(s_);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

cuda_event::cuda_event(bool timing) {
  RBM_CUDA_CHECK(cudaEventCreateWithFlags(&e_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
cuda_event::~cuda_event() {
  if (e_ != nullptr) cudaEventDestroy(e_);
}
cuda_event& cuda_event::operator=(cuda_event&& o) noexcept {
  if (this != &o) {
    if (e_ != nullptr) cudaEventDestroy(e_);
    e_ = std::exchange(o.e_, nullptr);
  }
  return *this;
}
void cuda_event::record(stream_view s) { RBM_CUDA_CHECK(cudaEventRecord(e_, s.get())); }
void cuda_event::wait_on(stream_view s) const { RBM_CUDA_CHECK(cudaStreamWaitEvent(s.get(), e_, 0)); }
void cuda_event::synchronize() const { RBM_CUDA_CHECK(cudaEventSynchronize(e_)); }
float cuda_event::ms_since(const cuda_event& start) const {
  float ms = 0;
  RBM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
  return ms;
}

namespace detail {

void* device_allocate(std::size_t bytes, stream_view s) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t err = cudaMallocAsync(&p, bytes, s.get());
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw out_of_memory("out of GPU memory: asked for " + std::to_string(bytes) + " bytes, " +
                            std::to_string(free_b) + " of " + std::to_string(total_b) + " bytes free",
                        static_cast<int>(err), bytes);
  }
  RBM_CUDA_CHECK(err);
  return p;
}

void device_free(void* p, stream_view s) noexcept {
  if (p != nullptr) cudaFreeAsync(p, s.get());
}

void* pinned_allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t err = cudaMallocHost(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory("out of pinned host memory: asked for " + std::to_string(bytes) + " bytes",
                        static_cast<int>(err), bytes);
  }
  RBM_CUDA_CHECK(err);
  return p;
}

void pinned_free(void* p) noexcept {
  if (p != nullptr) cudaFreeHost(p);
}

}  // namespace detail

namespace {
constexpr std::size_t cublas_workspace_bytes = std::size_t(32) << 20;  // NVIDIA's advice for Hopper
}

cublas_handle::cublas_handle(stream_view s) : workspace_(cublas_workspace_bytes, s), s_(s) {
  RBM_CUBLAS_CHECK(cublasCreate(&h_));
  try {
    RBM_CUBLAS_CHECK(cublasSetStream(h_, s.get()));
    RBM_CUBLAS_CHECK(cublasSetWorkspace(h_, workspace_.data(), workspace_.size()));
    RBM_CUBLAS_CHECK(cublasSetPointerMode(h_, CUBLAS_POINTER_MODE_HOST));
  } catch (...) {
    cublasDestroy(h_);
    throw;
  }
}
cublas_handle::~cublas_handle() {
  if (h_ == nullptr) return;
  cudaStreamSynchronize(s_.get());  // queued GEMMs use the handle; errors cannot be reported here
  cublasDestroy(h_);
}
cublas_handle::cublas_handle(cublas_handle&& o) noexcept
    : h_(std::exchange(o.h_, nullptr)), workspace_(std::move(o.workspace_)), s_(o.s_) {}

cuda_graph::~cuda_graph() {
  if (g_ != nullptr) cudaGraphExecDestroy(g_);
}
cuda_graph& cuda_graph::operator=(cuda_graph&& o) noexcept {
  if (this != &o) {
    if (g_ != nullptr) cudaGraphExecDestroy(g_);
    g_ = std::exchange(o.g_, nullptr);
  }
  return *this;
}
void cuda_graph::begin_capture(stream_view s) {
  if (s.is_default())
    throw precondition_error("CUDA graph capture needs a created stream, not a default stream (null, "
                             "cudaStreamLegacy or cudaStreamPerThread)");
  RBM_CUDA_CHECK(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal));
}
void cuda_graph::abandon_capture(stream_view s) noexcept {
  cudaGraph_t g = nullptr;
  cudaStreamEndCapture(s.get(), &g);
  if (g != nullptr) cudaGraphDestroy(g);
  cudaGetLastError();
}
cuda_graph cuda_graph::end_capture(stream_view s) {
  cudaGraph_t g = nullptr;
  RBM_CUDA_CHECK(cudaStreamEndCapture(s.get(), &g));
  cuda_graph out;
  const cudaError_t err = cudaGraphInstantiate(&out.g_, g, 0);
  cudaGraphDestroy(g);
  RBM_CUDA_CHECK(err);
  return out;
}
void cuda_graph::launch(stream_view s) const {
  RBM_EXPECTS(g_ != nullptr);
  RBM_CUDA_CHECK(cudaGraphLaunch(g_, s.get()));
}

}  // namespace rbm
