// NumPy .npy files holding a 2-D matrix [N, D] (the real-valued data of Gaussian visible units):
// float32, float64 or uint8, little-endian, C order, format versions 1.0 to 3.0. Every problem throws
// rbm::data_error naming the file and what is wrong; nothing is returned half-read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rbm/host/idx.hpp"

namespace rbm {

struct npy_matrix {
  int rows = 0, cols = 0;
  std::string dtype;          // as the file says: "<f4", "<f8" or "|u1"
  std::vector<float> values;  // [rows, cols] row-major, converted to float32
};

// Reads and validates `path`: magic and version, the header's descr / fortran_order / shape, a
// supported dtype, exactly rows * cols values (no truncation, no trailing bytes), and every value
// finite (the error names the first row holding a NaN or an infinity). The file is memory-mapped and
// converted once into `values` (no second copy of it in memory).
npy_matrix read_npy_matrix(const std::string& path);
// The same on a file's bytes, `name` used in messages (what the fuzzer and the tests drive).
npy_matrix parse_npy_matrix(const std::string& name, const std::uint8_t* bytes, std::size_t size);
npy_matrix parse_npy_matrix(const std::string& name, const std::vector<std::uint8_t>& bytes);

// Class labels from a .npy file: a vector [N] (or a column [N, 1]) of whole numbers in [0, max_label],
// of any dtype above; data_error naming the file and the first row that is not one.
constexpr int max_label = 255;
std::vector<std::uint8_t> read_npy_labels(const std::string& path);
std::vector<std::uint8_t> parse_npy_labels(const std::string& name, const std::uint8_t* bytes, std::size_t size);
// Those of `path` as the labels of `set`, one per sample (data_error naming the file otherwise).
void attach_labels(image_set& set, const std::string& path);

// A data set from .npy matrices: the training file and, when `test_path` is non-empty, a held-out one
// with as many features. `image_rows` x `image_cols` (both 0: none) is the picture shape of a sample,
// which must have that many features. Throws data_error naming the file.
dataset load_npy_dataset(const std::string& train_path, const std::string& test_path, int image_rows = 0,
                         int image_cols = 0);

}  // namespace rbm
