// The CPU's own Philox4x32-10 against cuRAND's host generator: identical floats for any seed, any
// starting position and any split of a request, across the 65,536-subsequence wrap.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "rbm/curand_generator.hpp"
#include "rbm/host/philox.hpp"

namespace {

TEST(Philox, BitIdenticalToCurandHostGenerator) {
  for (std::uint64_t seed : {std::uint64_t(1), std::uint64_t(77), std::uint64_t(0x123456789abcdefull)}) {
    rbm::philox_generator ref(rbm::philox_generator::where::host, seed);
    const std::size_t n = 1 + 6 + 4093 + 262144 + 3;  // past 65,536 blocks: the subsequence wrap
    std::vector<float> a(n), b(n, -1.0f);
    ref.uniform(a.data(), n);
    // Ours in uneven pieces at their absolute positions.
    std::size_t pos = 0;
    for (std::size_t piece : {std::size_t(1), std::size_t(6), std::size_t(4093), std::size_t(262144), std::size_t(3)}) {
      rbm::cpu::philox_uniforms(seed, pos, b.data() + pos, piece);
      pos += piece;
    }
    ASSERT_EQ(pos, n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a[i], b[i]) << "seed " << seed << " element " << i;
    // Each implementation this CPU runs (the dispatch above takes the widest), in one piece from an
    // odd position.
    using rbm::cpu::detail::philox_path;
    for (philox_path path : {philox_path::portable, philox_path::avx2, philox_path::avx512}) {
      if (!rbm::cpu::detail::philox_path_supported(path)) continue;
      std::vector<float> c(n - 3);
      rbm::cpu::detail::philox_uniforms_on(path, seed, 3, c.data(), c.size());
      for (std::size_t i = 0; i < c.size(); ++i)
        ASSERT_EQ(a[i + 3], c[i]) << "path " << int(path) << ", element " << i + 3;
    }
  }
}

TEST(Philox, SeeksLikeCurandOffsets) {
  rbm::philox_generator ref(rbm::philox_generator::where::host, 5, 1000003);
  std::vector<float> a(777), b(777);
  ref.uniform(a.data(), a.size());
  rbm::cpu::philox_uniforms(5, 1000003, b.data(), b.size());
  EXPECT_EQ(a, b);
  for (float u : b) ASSERT_TRUE(u > 0.0f && u <= 1.0f);
}

// Normals: cuRAND's host generator (curandGenerateNormal, Box-Muller pairs of the same Philox words)
// against ours, bit for bit, from position 0 and from an even offset, in one request and in pieces
// that split pairs; any request may start or end inside a pair.
TEST(Philox, NormalsBitIdenticalToCurandHostGenerator) {
  for (std::uint64_t seed : {std::uint64_t(1), std::uint64_t(77)}) {
    for (std::uint64_t offset : {std::uint64_t(0), std::uint64_t(262146)}) {  // the latter past the wrap
      rbm::philox_generator ref(rbm::philox_generator::where::host, seed, offset);
      const std::size_t n = 40000;
      std::vector<float> a(n), b(n, -99.0f);
      ref.normal(a.data(), n, 0.0f, 1.0f);
      std::size_t pos = 0;
      for (std::size_t piece : {std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(39990)}) {
        rbm::cpu::philox_normals(seed, offset + pos, b.data() + pos, piece);
        pos += piece;
      }
      ASSERT_EQ(pos, n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a[i], b[i]) << "seed " << seed << " offset " << offset << " element " << i;
    }
  }
  // And they are standard normals: mean 0, variance 1 over 40,000 draws (5 standard errors).
  std::vector<float> z(40000);
  rbm::cpu::philox_normals(3, 0, z.data(), z.size());
  double m = 0, v = 0;
  for (float x : z) m += x / 40000.0;
  for (float x : z) v += (x - m) * (x - m) / 40000.0;
  EXPECT_NEAR(m, 0.0, 5 * 1 / std::sqrt(40000.0));
  EXPECT_NEAR(v, 1.0, 5 * std::sqrt(2 / 40000.0));
}

}  // namespace

namespace {

// The stream the CPU backend and the tools draw from, call by call against cuRAND's host generator
// through philox_generator: odd and even sizes, uniforms and normals interleaved, a mean and a scale.
TEST(Philox, StreamDrawsWhatTheCurandHostGeneratorDraws) {
  for (std::uint64_t seed : {1ull, 0x9e3779b97f4a7c15ull}) {
    rbm::philox_generator ref(rbm::philox_generator::where::host, seed);
    rbm::cpu::philox_stream mine(seed);
    const std::size_t sizes[] = {5, 3, 7, 8, 1, 2, 6, 13, 4096, 1001};
    for (int kind = 0; kind < 3; ++kind)
      for (std::size_t n : sizes) {
        std::vector<float> a(n), b(n);
        if (kind == 0) {
          ref.uniform(a.data(), n);
          mine.uniform(b.data(), n);
        } else {
          const float mean = kind == 1 ? 0.0f : 0.37f, sd = kind == 1 ? 0.01f : 1.7f;
          ref.normal(a.data(), n, mean, sd);
          mine.normal(b.data(), n, mean, sd);
        }
        ASSERT_EQ(a, b) << "seed " << seed << ", kind " << kind << ", n " << n;
      }
  }
}

}  // namespace
