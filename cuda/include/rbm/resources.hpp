// One move-only RAII owner per CUDA resource: stream (+ non-owning view), event, device buffer,
// pinned host buffer, cuBLAS handle, executable CUDA graph. Constructors throw rbm exceptions;
// destructors never throw.
#pragma once

#include <cstddef>
#include <utility>

struct CUstream_st;
struct CUevent_st;
struct cublasContext;
struct CUgraphExec_st;

namespace rbm {

// A stream someone else owns, or one of the default streams: nullptr, cudaStreamLegacy or
// cudaStreamPerThread (the runtime's special handles 0x1 and 0x2).
class stream_view {
 public:
  constexpr stream_view() = default;
  constexpr stream_view(CUstream_st* s) : s_(s) {}  // NOLINT: implicit from a raw cudaStream_t
  constexpr CUstream_st* get() const noexcept { return s_; }
  // Whether this is a default stream rather than one created with cudaStreamCreate*: work on it
  // cannot be captured into a CUDA graph.
  bool is_default() const noexcept {
    return s_ == nullptr || s_ == reinterpret_cast<CUstream_st*>(0x1) || s_ == reinterpret_cast<CUstream_st*>(0x2);
  }
  // Blocks the calling host thread until the stream's work is done. Throws cuda_error.
  void synchronize() const;

 private:
  CUstream_st* s_ = nullptr;
};

// An owned non-blocking stream.
class cuda_stream {
 public:
  cuda_stream();
  ~cuda_stream();
  cuda_stream(cuda_stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  cuda_stream& operator=(cuda_stream&& o) noexcept;
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  stream_view view() const noexcept { return s_; }
  CUstream_st* get() const noexcept { return s_; }

 private:
  CUstream_st* s_ = nullptr;
};

// An event without timing (cheap ordering between streams) or with timing (benchmarks).
class cuda_event {
 public:
  explicit cuda_event(bool timing = false);
  ~cuda_event();
  cuda_event(cuda_event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  cuda_event& operator=(cuda_event&& o) noexcept;
  cuda_event(const cuda_event&) = delete;
  cuda_event& operator=(const cuda_event&) = delete;
  void record(stream_view s);               // asynchronous
  void wait_on(stream_view s) const;        // `s` waits for this event; asynchronous for the host
  void synchronize() const;                 // host waits for this event only
  float ms_since(const cuda_event& start) const;
  CUevent_st* get() const noexcept { return e_; }

 private:
  CUevent_st* e_ = nullptr;
};

namespace detail {
// Untyped stream-ordered device allocation; throws out_of_memory naming requested and free bytes.
void* device_allocate(std::size_t bytes, stream_view s);
void device_free(void* p, stream_view s) noexcept;
void* pinned_allocate(std::size_t bytes);
void pinned_free(void* p) noexcept;
}  // namespace detail

// Device memory of `size` T, allocated and freed in stream order on the stream it was created with
// (work queued there before the free completes first; work on another stream must be ordered before
// it by the owner, e.g. with an event or by synchronising that stream).
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(std::size_t size, stream_view s)
      : p_(static_cast<T*>(detail::device_allocate(size * sizeof(T), s))), n_(size), s_(s) {}
  ~device_buffer() { detail::device_free(p_, s_); }
  device_buffer(device_buffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), s_(o.s_) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
    if (this != &o) {
      detail::device_free(p_, s_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
      s_ = o.s_;
    }
    return *this;
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }
  stream_view stream() const noexcept { return s_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
  stream_view s_;
};

// Page-locked host memory, so copies to and from the device can run asynchronously. Its owner lets
// the copies that read or write it finish before it goes (cuda_backend's destructor synchronises its
// streams first).
template <class T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::size_t size) : p_(static_cast<T*>(detail::pinned_allocate(size * sizeof(T)))), n_(size) {}
  ~pinned_buffer() { detail::pinned_free(p_); }
  pinned_buffer(pinned_buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    if (this != &o) {
      detail::pinned_free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// A cuBLAS handle bound to one stream, with its workspace set so that it can be captured in graphs.
// Its destructor waits for the stream (cuBLAS work queued there uses the handle and the workspace),
// so the stream must outlive it.
class cublas_handle {
 public:
  explicit cublas_handle(stream_view s);
  ~cublas_handle();
  cublas_handle(cublas_handle&& o) noexcept;
  cublas_handle& operator=(cublas_handle&&) = delete;
  cublas_handle(const cublas_handle&) = delete;
  cublas_handle& operator=(const cublas_handle&) = delete;
  cublasContext* get() const noexcept { return h_; }

 private:
  cublasContext* h_ = nullptr;
  device_buffer<unsigned char> workspace_;
  stream_view s_;
};

// An instantiated CUDA graph, captured from the work a callable enqueues on a stream.
class cuda_graph {
 public:
  cuda_graph() = default;
  ~cuda_graph();
  cuda_graph(cuda_graph&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  cuda_graph& operator=(cuda_graph&& o) noexcept;
  cuda_graph(const cuda_graph&) = delete;
  cuda_graph& operator=(const cuda_graph&) = delete;

  // Captures everything `enqueue(s)` launches on `s`, which must be a created stream: a default stream
  // (stream_view::is_default) is refused with precondition_error before anything is enqueued.
  template <class F>
  static cuda_graph capture(stream_view s, F&& enqueue) {
    begin_capture(s);
    try {
      enqueue(s);
    } catch (...) {
      abandon_capture(s);
      throw;
    }
    return end_capture(s);
  }
  void launch(stream_view s) const;  // asynchronous
  bool empty() const noexcept { return g_ == nullptr; }

 private:
  static void begin_capture(stream_view s);
  static void abandon_capture(stream_view s) noexcept;
  static cuda_graph end_capture(stream_view s);
  CUgraphExec_st* g_ = nullptr;
};

}  // namespace rbm
