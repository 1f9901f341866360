// cuRAND's host Philox4x32-10 uniform sequence, computed directly: bit-identical to
// curandGenerateUniform on a host generator (tests/test_philox.cpp checks it against cuRAND), but
// over 10x faster (here: 0.45 ns per value with AVX-512, 0.65 with AVX2, 2.0 portable) and seekable in
// O(1): cuRAND's host generator costs ~6 ns per value and ~6 ms per curandSetGeneratorOffset.
// Element j of the sequence for `seed` is word j % 4 of
// philox4x32_10(counter = {b / 65536 (64-bit, low word first), b % 65536, 0}, key = seed), b = j / 4,
// mapped to (0, 1] as x * 2^-32 + 2^-33 — cuRAND's layout of 65,536 subsequences.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rbm::cpu {

// n uniforms in (0, 1]: elements position .. position + n - 1 of the sequence for `seed`.
void philox_uniforms(std::uint64_t seed, std::uint64_t position, float* out, std::size_t n);

// n standard normals: elements position .. position + n - 1 of cuRAND's normal sequence for `seed`
// (curandGenerateNormal with mean 0 and standard deviation 1 on a host generator): element j is made,
// with cuRAND's Box-Muller transform, from the pair of Philox words 2 floor(j / 2) and 2 floor(j / 2) + 1
// of the uniform sequence above — the sine for even j, the cosine for odd j:
//   u = w0 2^-32 + 2^-33, t = w1 (2 pi 2^-32) + pi 2^-32 (in float), z = sqrt(-2 log u) (sin t | cos t).
// Bit-identical to cuRAND's host generator with glibc's logf and sincosf (tests/test_philox.cpp); the
// device generator's own logf and sincosf may round the last bit differently.
void philox_normals(std::uint64_t seed, std::uint64_t position, float* out, std::size_t n);

// The host sequence as rbm::philox_generator(where::host) draws it, call after call, without cuRAND
// (so that the CPU backend and the tools need no CUDA library): uniform() takes the next n values;
// normal() the next n normals as mean + stddev z (two roundings, as cuRAND), an odd count taking a
// whole pair for its last value (the pair's first), as philox_generator::normal does.
// tests/test_philox.cpp checks both against philox_generator, call by call.
class philox_stream {
 public:
  explicit philox_stream(std::uint64_t seed, std::uint64_t position = 0) : seed_(seed), position_(position) {}
  void uniform(float* out, std::size_t n);
  void normal(float* out, std::size_t n, float mean, float stddev);
  std::uint64_t position() const noexcept { return position_; }

 private:
  std::uint64_t seed_, position_;
};

namespace detail {
// The implementations philox_uniforms chooses from (the widest this CPU runs), for the tests.
enum class philox_path { portable, avx2, avx512 };
bool philox_path_supported(philox_path path);
// philox_uniforms on `path`, which must be supported.
void philox_uniforms_on(philox_path path, std::uint64_t seed, std::uint64_t position, float* out, std::size_t n);
}  // namespace detail

}  // namespace rbm::cpu
