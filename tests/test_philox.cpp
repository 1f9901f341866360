// The CPU's own Philox4x32-10 against cuRAND's host generator: identical floats for any seed, any
// starting position and any split of a request, across the 65,536-subsequence wrap.
#include <gtest/gtest.h>

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

}  // namespace
