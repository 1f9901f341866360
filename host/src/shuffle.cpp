// Fisher-Yates over splitmix64: small, fast and the same everywhere.
#include "rbm/host/shuffle.hpp"

namespace rbm {
namespace {

std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void epoch_permutation(std::uint64_t seed, int epoch, std::vector<int>& order) {
  std::uint64_t s = seed * 0x2545f4914f6cdd1dull + static_cast<std::uint64_t>(epoch);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  for (std::size_t i = order.size(); i > 1; --i) {
    // Multiply-shift maps 64 random bits onto [0, i) with negligible bias for i < 2^32.
    const auto j = static_cast<std::size_t>((static_cast<unsigned __int128>(splitmix64(s)) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
}

}  // namespace rbm
