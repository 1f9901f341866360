// philox_generator: the RAII wrapper around cuRAND's Philox4x32-10 (host or device).
#include "rbm/curand_generator.hpp"

#include <cuda_runtime_api.h>
#include <curand.h>

#include <utility>
#include <vector>

#include "rbm/error.hpp"

namespace rbm {

philox_generator::philox_generator(where w, std::uint64_t seed, std::uint64_t offset, CUstream_st* stream)
    : where_(w), seed_(seed), stream_(w == where::device ? stream : nullptr) {
  if (w == where::host) {
    RBM_CURAND_CHECK(curandCreateGeneratorHost(&gen_, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  } else {
    RBM_CURAND_CHECK(curandCreateGenerator(&gen_, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  }
  try {
    // The default ordering is documented as free to change between cuRAND releases; only the legacy
    // one is guaranteed stable, and the CPU's Philox (host/src/philox.cpp) reproduces exactly it.
    RBM_CURAND_CHECK(curandSetGeneratorOrdering(gen_, CURAND_ORDERING_PSEUDO_LEGACY));
    RBM_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(gen_, seed));
    RBM_CURAND_CHECK(curandSetGeneratorOffset(gen_, offset));
    if (w == where::device) RBM_CURAND_CHECK(curandSetStream(gen_, stream));
  } catch (...) {
    curandDestroyGenerator(gen_);
    throw;
  }
}

philox_generator::~philox_generator() { release(); }

void philox_generator::release() noexcept {
  if (gen_ == nullptr) return;
  // Draws still queued on the stream use the generator: let them finish first. Errors cannot be
  // reported from here (a failed stream has nothing left to wait for).
  if (where_ == where::device) cudaStreamSynchronize(stream_);
  curandDestroyGenerator(gen_);
  gen_ = nullptr;
}

philox_generator::philox_generator(philox_generator&& other) noexcept
    : gen_(std::exchange(other.gen_, nullptr)), where_(other.where_), seed_(other.seed_), stream_(other.stream_) {}

philox_generator& philox_generator::operator=(philox_generator&& other) noexcept {
  if (this != &other) {
    release();
    gen_ = std::exchange(other.gen_, nullptr);
    where_ = other.where_;
    seed_ = other.seed_;
    stream_ = other.stream_;
  }
  return *this;
}

void philox_generator::uniform(float* out, std::size_t n) {
  if (n == 0) return;
  RBM_EXPECTS(out != nullptr);
  RBM_CURAND_CHECK(curandGenerateUniform(gen_, out, n));
}

void philox_generator::normal(float* out, std::size_t n, float mean, float stddev) {
  if (n == 0) return;
  RBM_EXPECTS(out != nullptr);
  const std::size_t even = n & ~std::size_t{1};
  if (even > 0) RBM_CURAND_CHECK(curandGenerateNormal(gen_, out, even, mean, stddev));
  if (even != n) {
    RBM_EXPECTS(where_ == where::host);  // the odd tail is only needed for host initialisation
    float pair[2];
    RBM_CURAND_CHECK(curandGenerateNormal(gen_, pair, 2, mean, stddev));
    out[n - 1] = pair[0];
  }
}

void philox_generator::set_offset(std::uint64_t offset) {
  RBM_CURAND_CHECK(curandSetGeneratorOffset(gen_, offset));
}

}  // namespace rbm
