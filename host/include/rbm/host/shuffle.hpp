// Per-epoch shuffling from a seed, identical on every platform (no std::shuffle: its algorithm is
// implementation-defined).
#pragma once

#include <cstdint>
#include <vector>

namespace rbm {

// Fills `order` with a permutation of 0..size-1 determined by (seed, epoch) alone.
void epoch_permutation(std::uint64_t seed, int epoch, std::vector<int>& order);

}  // namespace rbm
