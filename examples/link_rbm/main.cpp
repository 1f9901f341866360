// Calls rbm::model on this program's own device buffer and its own stream: trains an RBM on random
// binary patterns, then reports the mean free energy. Exits 0 after printing why if no GPU is usable.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <random>
#include <vector>

#include <rbm/device_info.hpp>
#include <rbm/error.hpp>
#include <rbm/model.hpp>

int main() {
  const rbm::device_report rep = rbm::query_devices();
  if (rep.devices.empty()) {
    std::printf("link_rbm: linked against rbm::cuda; no usable GPU to run on (%s)\n", rep.reason.c_str());
    return 0;
  }
  try {
    const int nv = 64, nh = 32, rows = 128;
    cudaStream_t stream = nullptr;
    RBM_CUDA_CHECK(cudaStreamCreate(&stream));  // the caller's own stream...
    float* data = nullptr;
    RBM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data), sizeof(float) * rows * nv));  // ...and the caller's own buffer
    std::vector<float> host(rows * nv);
    std::mt19937 rng(1);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < nv; ++i) host[r * nv + i] = ((i / 8 + r) % 2 == 0) ? 1.0f : float(rng() % 10 == 0);
    RBM_CUDA_CHECK(cudaMemcpyAsync(data, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice, stream));

    rbm::model_options opt;
    opt.cd.nv = nv;
    opt.cd.nh = nh;
    opt.cd.lr = 0.1f;
    opt.max_batch = rows;
    rbm::model m(opt, stream);
    float* fe = nullptr;
    RBM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&fe), sizeof(float) * rows));
    std::vector<float> f(rows);
    for (int epoch = 0; epoch <= 200; ++epoch) {
      if (epoch % 50 == 0) {
        m.free_energy(data, rows, fe);
        RBM_CUDA_CHECK(cudaMemcpyAsync(f.data(), fe, sizeof(float) * rows, cudaMemcpyDeviceToHost, stream));
        RBM_CUDA_CHECK(cudaStreamSynchronize(stream));
        double mean = 0;
        for (float x : f) mean += x / rows;
        std::printf("link_rbm: after %3d updates, mean free energy of the data %.3f\n", epoch, mean);
      }
      m.train_step(data, rows);  // asynchronous on our stream
    }
    RBM_CUDA_CHECK(cudaStreamSynchronize(stream));
    RBM_CUDA_CHECK(cudaFree(fe));
    RBM_CUDA_CHECK(cudaFree(data));
    RBM_CUDA_CHECK(cudaStreamDestroy(stream));
    return 0;
  } catch (const rbm::error& e) {
    std::fprintf(stderr, "link_rbm: %s\n", e.what());
    return 1;
  }
}
