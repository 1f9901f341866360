// Deep Belief Networks on the GPU: the propagation between layers on the device (rbm/propagate.hpp)
// against the CPU's, and a stack whose layers train on the GPU with their inputs kept there.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "../helpers.hpp"
#include "../stack_helpers.hpp"
#include "gpu_test.hpp"
#include "rbm/curand_generator.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/propagate.hpp"

namespace {

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += std::pow(a[i] - b[i], 2), norm += std::pow(b[i], 2);
  return std::sqrt(diff / norm);
}

// p(h | v) on the device equals the CPU's (Bernoulli and Gaussian units, more rows than one chunk); the
// sampled states are [u < p] with the CPU's Philox uniforms from the given position.
TEST(GpuKernels, PropagateRowsMatchesTheCpuInProbabilitiesAndDraws) {
  RBM_REQUIRE_GPU();
  std::mt19937 rng(5);
  const int nv = 37, nh = 29, rows = 16384 + 7;
  rbm::cuda_stream st;
  const rbm::cublas_handle blas(st.view());
  for (const bool gaussian : {false, true}) {
    SCOPED_TRACE(gaussian ? "gaussian" : "bernoulli");
    rbm::model_params p(nv, nh, gaussian ? rbm::unit_kind::gaussian : rbm::unit_kind::bernoulli);
    p.w = rbm_gpu_test::random_vector(p.w.size(), rng, -0.3f, 0.3f);
    p.hb = rbm_gpu_test::random_vector(p.hb.size(), rng, -1.0f, 1.0f);
    if (gaussian) p.sigma = rbm_gpu_test::random_vector(p.sigma.size(), rng, 0.5f, 2.0f);
    const std::vector<float> v = rbm_gpu_test::random_vector(std::size_t(rows) * nv, rng, gaussian ? -2.0f : 0.0f, 1.0f);
    std::vector<float> cpu(std::size_t(rows) * nh);
    rbm::cpu_hidden_probs(p, v.data(), rows, cpu.data());
    const auto dv = rbm_gpu_test::upload(v, st.view()), dw = rbm_gpu_test::upload(p.w, st.view()),
               dhb = rbm_gpu_test::upload(p.hb, st.view());
    const auto dsigma = rbm_gpu_test::upload(gaussian ? p.sigma : std::vector<float>(1, 1.0f), st.view());
    const rbm::layer_view layer{nv, nh, dw.data(), dhb.data(), gaussian ? dsigma.data() : nullptr};
    auto out = rbm_gpu_test::poisoned(cpu.size(), st.view());
    rbm::propagate_rows(blas, rbm::gemm_mode::fp32, layer, dv.data(), rows, false, 0, 0, out.data(), st.view());
    const auto probs = rbm_gpu_test::download(out, st.view());
    double worst = 0;
    for (std::size_t i = 0; i < cpu.size(); ++i) worst = std::max(worst, double(std::fabs(probs[i] - cpu[i])));
    EXPECT_LT(worst, 2e-5);
    // States, from position 8 of the sequence for seed 77.
    rbm::propagate_rows(blas, rbm::gemm_mode::fp32, layer, dv.data(), rows, true, 77, 8, out.data(), st.view());
    const auto states = rbm_gpu_test::download(out, st.view());
    std::vector<float> u(cpu.size());
    rbm::cpu::philox_uniforms(77, 8, u.data(), u.size());
    long differ = 0, ties = 0;
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_TRUE(states[i] == 0.0f || states[i] == 1.0f) << i;
      if (std::fabs(u[i] - cpu[i]) < 1e-4f) {
        ++ties;  // the GEMMs' last bits may decide these
        continue;
      }
      differ += states[i] != (u[i] < cpu[i] ? 1.0f : 0.0f);
    }
    EXPECT_EQ(differ, 0) << ties << " near ties skipped";
  }
}

// A stack trained on the GPU propagates there: layer 2 trains on the device rows as it would on the
// same rows from the host (computed by the CPU), with labels on top and a validation split; its test
// set is classified once, through the stack.
TEST(GpuTraining, AStackPropagatesOnTheGpuAndTrainsAsFromHostRows) {
  RBM_REQUIRE_GPU();
  const rbm::dataset d = rbm_test::digits_subset(1500, 300);
  rbm::stack_options o = rbm_test::labelled_stack("cuda");
  o.base.validation = 300;
  for (const bool sample : {false, true}) {
    SCOPED_TRACE(sample ? "sampled propagation" : "probabilities");
    o.propagate_samples = sample;
    const rbm::stack_result r = rbm::train_stack(d, o);
    ASSERT_TRUE(r.propagated_on_gpu == std::vector<bool>{true});
    EXPECT_EQ(r.layers[1].backend_name.rfind("cuda", 0), 0u) << r.layers[1].backend_name;
    // By hand: layer 1 on the GPU from the split, then layer 2 on the GPU from host rows the CPU propagated.
    rbm::dataset split;
    split.name = d.name;
    split.train = d.train;
    split.test = rbm::split_tail(split.train, 300);
    const rbm::train_result one = rbm::train(split, rbm::layer_options(o, 0));
    EXPECT_LT(relative_difference(r.model.layers[0].w, one.params.w), 1e-6);
    const rbm::train_result two = rbm::train(rbm_test::second_layer_input(split, o, one.params), rbm::layer_options(o, 1));
    // Sampled states may differ at near ties of u and p; a handful of flipped units moves W slightly.
    EXPECT_LT(relative_difference(r.model.layers[1].w, two.params.w), sample ? 2e-2 : 1e-3);
    EXPECT_NEAR(r.layers[1].history.back().test_accuracy, two.history.back().test_accuracy, sample ? 0.03 : 0.011);
    ASSERT_EQ(r.layers[1].test_count, 300);  // the test set, classified once through the stack
    EXPECT_GT(r.layers[1].test_accuracy, 0.6);
  }
}

// Stopped in its second layer (which trains on device rows), a GPU stack resumes from its directory:
// the rows are propagated again on the GPU and the run ends as one that never stopped.
TEST(GpuTraining, AStackOnTheGpuResumesInItsSecondLayer) {
  RBM_REQUIRE_GPU();
  const rbm::dataset d = rbm_test::digits_subset(600, 100);
  const auto straight = rbm::train_stack(d, rbm_test::small_stack(rbm_test::fresh_dir("gpu-stack-straight").string(), "cuda"));
  const auto dir = rbm_test::fresh_dir("gpu-stack-stopped");
  rbm::stack_options o = rbm_test::small_stack(dir.string(), "cuda");
  std::atomic<bool> stop{false};
  int layer = 0;
  rbm_test::stop_in_second_layer(o, stop, layer);
  EXPECT_THROW(rbm::train_stack(d, o), rbm::interrupted);
  rbm::stack_options again;
  again.base.resume = dir.string();
  again.base.device = "cuda";
  const auto resumed = rbm::train_stack(d, again);
  ASSERT_EQ(resumed.model.layers.size(), 2u);
  EXPECT_EQ(resumed.model.layers[0].w, straight.model.layers[0].w);
  EXPECT_LT(relative_difference(resumed.model.layers[1].w, straight.model.layers[1].w), 1e-5);
}

}  // namespace
