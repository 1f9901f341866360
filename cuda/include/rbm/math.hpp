// Scalar maths shared by the CUDA kernels and the CPU backend, so both run literally the same expressions.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define RBM_HD __host__ __device__ __forceinline__
#else
#define RBM_HD inline
#endif

namespace rbm {

// Logistic sigmoid that neither overflows nor loses the tail for any input: exp() only ever sees a
// non-positive argument, and the select (no branch) lets compilers vectorise it.
RBM_HD float sigmoid(float x) {
  const float e = expf(-fabsf(x));
  const float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

// log(1 + exp(x)) without overflow for large x or cancellation for very negative x.
RBM_HD float softplus(float x) {
  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

// Bernoulli draw from a uniform u in (0, 1] (cuRAND's convention): on with probability p.
RBM_HD float bernoulli(float p, float u) { return u < p ? 1.0f : 0.0f; }

// The weight step's velocity after L2 decay, vel - decay * w, rounded twice (the product, then the
// difference) on every device and CPU: nvcc would otherwise fuse it into one FMA, and whether a CPU
// compiler does depends on its flags, so the two could differ by far more than an ulp wherever the
// terms nearly cancel. (The CPU passes are compiled with -ffp-contract=off; see host/CMakeLists.txt.)
RBM_HD float decayed_velocity(float vel, float w, float decay) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(vel, __fmul_rn(decay, w));
#else
  return vel - decay * w;
#endif
}

// AIS: the visible units' input at inverse temperature beta, (1 - beta) bA + beta (vpre + vb), in
// double, rounded operation by operation on both sides (no fused multiply-add on the device either),
// so the CPU and the GPU draw their tempered states from the same probabilities.
RBM_HD double ais_visible_input(double beta, float base_vb, float vpre, float vb) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(__dmul_rn(1.0 - beta, double(base_vb)), __dmul_rn(beta, double(vpre) + double(vb)));
#else
  return (1.0 - beta) * double(base_vb) + beta * (double(vpre) + double(vb));
#endif
}

}  // namespace rbm
