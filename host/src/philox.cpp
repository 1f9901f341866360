// Philox4x32-10 (Salmon et al. 2011) in cuRAND's host layout; see philox.hpp.
#include "rbm/host/philox.hpp"

namespace rbm::cpu {
namespace {

constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u, w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
constexpr std::uint64_t subsequences = 65536;

struct block {
  std::uint32_t x[4];
};

inline block philox(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
                    std::uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t(m0) * c0, p1 = std::uint64_t(m1) * c2;
    const std::uint32_t y0 = std::uint32_t(p1 >> 32) ^ c1 ^ k0, y1 = std::uint32_t(p1);
    const std::uint32_t y2 = std::uint32_t(p0 >> 32) ^ c3 ^ k1, y3 = std::uint32_t(p0);
    c0 = y0, c1 = y1, c2 = y2, c3 = y3;
    k0 += w0, k1 += w1;
  }
  return {{c0, c1, c2, c3}};
}

// (0, 1]: the product is exact (a power-of-two scale), so a fused multiply-add rounds identically.
inline float to_unit(std::uint32_t x) {
  constexpr float scale = 2.3283064365386963e-10f;  // 2^-32
  return static_cast<float>(x) * scale + scale / 2.0f;
}

inline block block_at(std::uint64_t b, std::uint32_t k0, std::uint32_t k1) {
  const std::uint64_t n = b / subsequences;
  return philox(std::uint32_t(n), std::uint32_t(n >> 32), std::uint32_t(b % subsequences), 0, k0, k1);
}

// Whole blocks [b0, b1) into out (4 floats each); independent iterations the compiler can vectorise.
__attribute__((target_clones("avx2", "default"))) void fill_blocks(std::uint64_t b0, std::uint64_t b1,
                                                                     std::uint32_t k0, std::uint32_t k1, float* out) {
  for (std::uint64_t b = b0; b < b1; ++b) {
    const block r = block_at(b, k0, k1);
    float* o = out + (b - b0) * 4;
    o[0] = to_unit(r.x[0]);
    o[1] = to_unit(r.x[1]);
    o[2] = to_unit(r.x[2]);
    o[3] = to_unit(r.x[3]);
  }
}

}  // namespace

void philox_uniforms(std::uint64_t seed, std::uint64_t position, float* out, std::size_t n) {
  const std::uint32_t k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
  std::size_t done = 0;
  while (done < n && (position + done) % 4 != 0) {  // head: the rest of a partly used block
    const std::uint64_t j = position + done;
    out[done++] = to_unit(block_at(j / 4, k0, k1).x[j % 4]);
  }
  const std::uint64_t first = (position + done) / 4, whole = (n - done) / 4;
  fill_blocks(first, first + whole, k0, k1, out + done);
  done += std::size_t(whole) * 4;
  while (done < n) {  // tail
    const std::uint64_t j = position + done;
    out[done++] = to_unit(block_at(j / 4, k0, k1).x[j % 4]);
  }
}

}  // namespace rbm::cpu
