// What every reader of a file checks before it trusts a size the file states: sizes multiplied without
// wrapping (a product past 2^64 once passed an exact-length check at 0), and files that are regular
// files of a bounded size (a device such as /dev/zero, or a named pipe, never ends). Each throws
// rbm::data_error naming the file.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace rbm {

// The product of `dims`, or data_error "<path>: <what> (d0 x d1 x ...) exceeds <limit>" when it passes
// `limit` (checked factor by factor, so nothing wraps).
std::uint64_t checked_product(const std::string& path, const std::string& what, const std::vector<std::uint64_t>& dims,
                              std::uint64_t limit);

// The bytes of `path`, which must be a regular file of at most `max_bytes` bytes.
std::vector<std::uint8_t> read_regular_file(const std::string& path, std::uint64_t max_bytes = std::uint64_t(1) << 40);

}  // namespace rbm
