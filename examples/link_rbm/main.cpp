// Calls rbm::model on this program's own device buffer and its own stream: trains an RBM on random
// binary patterns, then reports the mean free energy. Exits 0 after printing why if no GPU is usable.
//
// Lifetimes, as a program of your own should keep them: the stream is created first and destroyed
// last; the caller's buffers live until the model's work that reads them is done; the model (whose
// destructor waits for its stream) goes before the stream it was created on.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <random>
#include <vector>

#include <rbm/device_info.hpp>
#include <rbm/error.hpp>
#include <rbm/model.hpp>

namespace {

// The caller's own stream and device memory, released in reverse order of creation even when an
// exception leaves main's scope early (errors while releasing cannot be reported, so are ignored).
struct own_stream {
  cudaStream_t s = nullptr;
  own_stream() { RBM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~own_stream() {
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
  }
  own_stream(const own_stream&) = delete;
  own_stream& operator=(const own_stream&) = delete;
};

struct own_buffer {
  float* p = nullptr;
  explicit own_buffer(std::size_t n) { RBM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), sizeof(float) * n)); }
  ~own_buffer() { cudaFree(p); }  // cudaFree waits for the device work that may still read p
  own_buffer(const own_buffer&) = delete;
  own_buffer& operator=(const own_buffer&) = delete;
};

}  // namespace

int main() {
  const rbm::device_report rep = rbm::query_devices();
  if (rep.devices.empty()) {
    std::printf("link_rbm: linked against rbm::cuda; no usable GPU to run on (%s)\n", rep.reason.c_str());
    return 0;
  }
  try {
    const int nv = 64, nh = 32, rows = 128;
    own_stream stream;                     // the caller's own stream: created first, destroyed last
    own_buffer data(std::size_t(rows) * nv), fe(rows);  // ...and the caller's own buffers
    std::vector<float> host(std::size_t(rows) * nv);
    std::mt19937 rng(1);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < nv; ++i) host[r * nv + i] = ((i / 8 + r) % 2 == 0) ? 1.0f : float(rng() % 10 == 0);
    RBM_CUDA_CHECK(cudaMemcpyAsync(data.p, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice, stream.s));

    std::vector<float> f(rows);
    {
      rbm::model_options opt;
      opt.cd.nv = nv;
      opt.cd.nh = nh;
      opt.cd.lr = 0.1f;
      opt.max_batch = rows;
      rbm::model m(opt, stream.s);  // destroyed at the end of this block, before the stream and buffers
      for (int epoch = 0; epoch <= 200; ++epoch) {
        if (epoch % 50 == 0) {
          m.free_energy(data.p, rows, fe.p);
          RBM_CUDA_CHECK(cudaMemcpyAsync(f.data(), fe.p, sizeof(float) * rows, cudaMemcpyDeviceToHost, stream.s));
          RBM_CUDA_CHECK(cudaStreamSynchronize(stream.s));  // f is read on the host next
          double mean = 0;
          for (float x : f) mean += x / rows;
          std::printf("link_rbm: after %3d updates, mean free energy of the data %.3f\n", epoch, mean);
        }
        m.train_step(data.p, rows);  // asynchronous on our stream
      }
      RBM_CUDA_CHECK(cudaStreamSynchronize(stream.s));  // report a failed update here, not as a lost error
    }
    return 0;
  } catch (const rbm::error& e) {
    std::fprintf(stderr, "link_rbm: %s\n", e.what());
    return 1;
  }
}
