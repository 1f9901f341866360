// Move-only owner of a cuRAND Philox4x32-10 generator, on the host or on the device.
// With the same seed and offset the host and device generators produce the same sequence, which is
// what lets the CPU and GPU backends draw identical uniforms and be tested against each other. Both
// use CURAND_ORDERING_PSEUDO_LEGACY, the one ordering cuRAND guarantees never to change.
#pragma once

#include <cstddef>
#include <cstdint>

struct curandGenerator_st;
struct CUstream_st;

namespace rbm {

class philox_generator {
 public:
  enum class where { host, device };

  // Creates a generator. `where::host` runs on the CPU (no GPU needed) and writes host memory;
  // `where::device` writes device memory asynchronously on `stream`. Throws curand_error.
  // A device generator's destructor first waits for `stream` (its queued draws use the generator), so
  // the stream must outlive it.
  philox_generator(where w, std::uint64_t seed, std::uint64_t offset = 0, CUstream_st* stream = nullptr);
  ~philox_generator();
  philox_generator(philox_generator&& other) noexcept;
  philox_generator& operator=(philox_generator&& other) noexcept;
  philox_generator(const philox_generator&) = delete;
  philox_generator& operator=(const philox_generator&) = delete;

  // n uniforms in (0, 1] into `out` (host memory for a host generator, device memory otherwise).
  void uniform(float* out, std::size_t n);
  // n normals N(mean, stddev^2); n may be odd (cuRAND itself asks for even counts).
  void normal(float* out, std::size_t n, float mean, float stddev);

  // Moves to an absolute position in the sequence; a generator at (seed, offset) continues exactly
  // where one that started at (seed, 0) stood after drawing `offset` values in calls of sizes that
  // are multiples of 4.
  void set_offset(std::uint64_t offset);
  std::uint64_t seed() const noexcept { return seed_; }
  where location() const noexcept { return where_; }
  curandGenerator_st* native() const noexcept { return gen_; }

 private:
  void release() noexcept;

  curandGenerator_st* gen_ = nullptr;
  where where_;
  std::uint64_t seed_;
  CUstream_st* stream_ = nullptr;
};

}  // namespace rbm
