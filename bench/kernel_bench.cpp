// Per-value cost of the CPU backend's sampling work, one thread (Google Benchmark): each Philox
// implementation this CPU runs, and the fused sigmoid-and-draw passes over rows of 784 visible units.
// These are the non-GEMM costs that bench/RESULTS.md accounts for; `per_value` is the number.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/philox.hpp"

namespace {

using rbm::cpu::detail::philox_path;

constexpr int rows = 10, cols = 784;  // one chunk of the CD step's visible layer
constexpr std::size_t n = std::size_t(rows) * cols;

// Reported as `per_value`: seconds per value (Google Benchmark prints it with an SI prefix, p = 1e-12).
void per_value(benchmark::State& state, std::size_t values) {
  state.counters["per_value"] =
      benchmark::Counter(double(values), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void philox(benchmark::State& state) {
  const auto path = static_cast<philox_path>(state.range(0));
  if (!rbm::cpu::detail::philox_path_supported(path)) {
    state.SkipWithError("this CPU does not run that path");
    return;
  }
  std::vector<float> u(n);
  std::uint64_t position = 0;
  for (auto _ : state) {
    rbm::cpu::detail::philox_uniforms_on(path, 42, position, u.data(), n);
    position += n;
    benchmark::DoNotOptimize(u.data());
  }
  per_value(state, n);
}
BENCHMARK(philox)->ArgName("path(0 portable,1 avx2,2 avx512)")->DenseRange(0, 2);

struct layer {
  std::vector<float> x = std::vector<float>(n), bias = std::vector<float>(cols), u = std::vector<float>(n),
                     states = std::vector<float>(n);
  layer() {
    std::mt19937 gen(3);
    std::normal_distribution<float> pre(0.0f, 4.0f);
    for (float& v : x) v = pre(gen);
    for (float& b : bias) b = pre(gen) / 4;
    rbm::cpu::philox_uniforms(7, 0, u.data(), n);
  }
};

// In place, as the CD step runs them: later iterations see the previous one's outputs, which costs
// the same (no branches on the values).
void sigmoid_sample(benchmark::State& state) {
  layer l;
  for (auto _ : state) {
    rbm::cpu::sigmoid_sample_rows(l.x.data(), l.bias.data(), l.u.data(), rows, cols, l.states.data());
    benchmark::DoNotOptimize(l.states.data());
  }
  per_value(state, n);
}
BENCHMARK(sigmoid_sample);

void sample_logistic(benchmark::State& state) {
  layer l;
  for (auto _ : state) {
    rbm::cpu::sample_logistic_rows(l.x.data(), l.bias.data(), l.u.data(), rows, cols);
    benchmark::DoNotOptimize(l.x.data());
  }
  per_value(state, n);
}
BENCHMARK(sample_logistic);

// The passes they replaced: sigmoid, then the draw.
void sigmoid_then_sample(benchmark::State& state) {
  layer l;
  for (auto _ : state) {
    rbm::cpu::sigmoid_rows(l.x.data(), l.bias.data(), rows, cols);
    rbm::cpu::sample(l.x.data(), l.u.data(), n, l.states.data());
    benchmark::DoNotOptimize(l.states.data());
  }
  per_value(state, n);
}
BENCHMARK(sigmoid_then_sample);

}  // namespace

BENCHMARK_MAIN();
