// Shared by the GPU suites: skip (saying why) where no GPU is usable, or fail instead where the
// environment says a GPU must be there (RBM_GPU_TESTS_REQUIRED=1, set by bench/gpu_check.sh on a
// machine with a GPU, so a broken driver cannot pass as a row of skips); device <-> host helpers.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "rbm/device_info.hpp"
#include "rbm/host/backend.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/cuda_backend.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/error.hpp"
#include "rbm/resources.hpp"

namespace rbm_gpu_test {

inline const std::string& unusable_reason() {
  static const std::string reason = [] {
    const rbm::device_report r = rbm::query_devices();
    return r.devices.empty() ? r.reason : std::string();
  }();
  return reason;
}

inline bool gpu_required() {
  const char* v = std::getenv("RBM_GPU_TESTS_REQUIRED");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

template <class T>
rbm::device_buffer<T> upload(const std::vector<T>& host, rbm::stream_view s) {
  rbm::device_buffer<T> d(host.size(), s);
  RBM_CUDA_CHECK(cudaMemcpyAsync(d.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, s.get()));
  s.synchronize();
  return d;
}

template <class T>
std::vector<T> download(const rbm::device_buffer<T>& d, rbm::stream_view s) {
  std::vector<T> host(d.size());
  RBM_CUDA_CHECK(cudaMemcpyAsync(host.data(), d.data(), d.size() * sizeof(T), cudaMemcpyDeviceToHost, s.get()));
  s.synchronize();
  return host;
}

// A device buffer filled with NaN, so that any element a kernel forgets to write shows up.
inline rbm::device_buffer<float> poisoned(std::size_t n, rbm::stream_view s) {
  return upload(std::vector<float>(n, std::nanf("")), s);
}

// `batches` batches of `rows` pixel rows (data [batches * rows, nv], in order) trained on each backend.
inline void step_each(std::initializer_list<rbm::backend*> backends, const std::vector<std::uint8_t>& data, int nv,
                      int rows, int batches) {
  std::vector<int> idx(std::size_t(batches) * rows);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = int(i);
  for (rbm::backend* be : backends) {
    be->attach(rbm::rows_view::of(data.data(), batches * rows, nv));
    for (int b = 0; b < batches; ++b) be->step(idx.data() + std::size_t(b) * rows, rows);
  }
}

// One CD step's draws from the training generator's sequence at `position` (uniforms, and normals
// where make_draw_layout puts them), as the device model draws them; position moves past them.
inline std::vector<float> step_draws(const rbm::cd_config& c, int rows, std::uint64_t& position) {
  const rbm::cd_draw_layout lay = rbm::make_draw_layout(rows, c);
  std::vector<float> draws(lay.total());
  rbm::cpu::philox_uniforms(c.seed, position, draws.data(), draws.size());
  if (lay.visible_normals)
    for (int s = 0; s < c.k; ++s) rbm::cpu::philox_normals(c.seed, position + lay.v(s), draws.data() + lay.v(s), lay.visible);
  position += lay.total();
  return draws;
}

inline std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline rbm::gpu_options resident_as(const std::string& resident) {
  rbm::gpu_options go;
  go.resident = resident;
  return go;
}

// The same model on both backends on the same attached rows (the CUDA backend's rows resident "on",
// or streamed "off"), batches up to `rows`.
struct backend_pair {
  rbm::cpu_backend cpu;
  rbm::cuda_backend gpu;
  backend_pair(const rbm::cd_config& cfg, int rows, const std::string& resident, const rbm::model_params& p0,
               const rbm::rows_view& data)
      : cpu(cfg), gpu(cfg, rows, resident_as(resident)) {
    for (rbm::backend* b : {static_cast<rbm::backend*>(&cpu), static_cast<rbm::backend*>(&gpu)}) {
      b->set_params(p0);
      b->attach(data);
    }
  }
  // `batches` updates of `rows` rows each on both, the rows 0 .. n - 1 shuffled by `rng` (returned).
  std::vector<int> step_both(int n, int rows, int batches, const rbm::step_objective& obj, std::mt19937& rng) {
    std::vector<int> idx(n);
    for (int i = 0; i < n; ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    for (int b = 0; b < batches; ++b) {
      cpu.step(idx.data() + b * rows, rows, obj);
      gpu.step(idx.data() + b * rows, rows, obj);
    }
    return idx;
  }
};

// The largest element-wise difference of two equally long vectors.
inline double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

}  // namespace rbm_gpu_test

#define RBM_REQUIRE_GPU()                                                                            \
  do {                                                                                               \
    if (!::rbm_gpu_test::unusable_reason().empty()) {                                                \
      if (::rbm_gpu_test::gpu_required())                                                            \
        FAIL() << "no usable GPU although RBM_GPU_TESTS_REQUIRED is set: "                           \
               << ::rbm_gpu_test::unusable_reason();                                                 \
      GTEST_SKIP() << "no usable GPU: " << ::rbm_gpu_test::unusable_reason();                        \
    }                                                                                                \
  } while (0)
