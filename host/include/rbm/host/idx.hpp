// IDX data sets (MNIST, Fashion-MNIST, EMNIST): reading image and label files, gzip-compressed or raw,
// and finding the standard train/test files in a directory. Every problem throws rbm::data_error naming
// the file; nothing is returned half-loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rbm/error.hpp"

namespace rbm {

class data_error : public error {
 public:
  using error::error;
};

struct image_set {
  std::vector<std::uint8_t> pixels;  // [count, rows * cols] row-major, 0..255 (pixel data)
  std::vector<float> values;         // [count, rows * cols] row-major real values (.npy data); then
                                     // `pixels` is empty and rows x cols is the picture shape given, or
                                     // 1 x D where none was
  int count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> labels;  // [count], empty when no label file was read
  std::string source;                // file it came from
  // Real values [count, rows * cols] held by the caller (a NumPy array read in place), used instead of
  // `values`; the caller keeps them alive and unchanged while train() runs.
  const float* borrowed = nullptr;
  // Or real values [count, rows * cols] in GPU memory (a CUDA array; float32, row-major), which only
  // the CUDA backend reads: train() then trains in memory, on the device, with no host copy of the set.
  const float* device_values = nullptr;

  int dim() const { return rows * cols; }
  bool real() const { return borrowed != nullptr || device_values != nullptr || !values.empty(); }
  const float* value_data() const { return borrowed != nullptr ? borrowed : values.data(); }
};

// Whole content of a file, inflated when it starts with the gzip magic. Throws data_error.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path);

// Bytes as read from `name`, inflated when they start with the gzip magic. Throws data_error.
std::vector<std::uint8_t> maybe_gunzip(const std::string& name, std::vector<std::uint8_t> bytes);

// An IDX image file (magic 0x00000803): validates magic, dimensions and exact length.
image_set read_idx_images(const std::string& path);
// The same on the bytes of a file (gzip or raw) called `name` in messages; what the fuzzer drives.
image_set parse_idx_images(const std::string& name, std::vector<std::uint8_t> bytes);
// An IDX label file (magic 0x00000801).
std::vector<std::uint8_t> read_idx_labels(const std::string& path);
// Images plus, when `labels_path` is non-empty, labels whose count must match.
image_set read_idx(const std::string& images_path, const std::string& labels_path);

// First `n` samples only (n <= 0 keeps all).
void truncate(image_set& s, int n);

// The last `n` samples of s (0 < n < s.count) as their own set, and s without them (its first
// count - n): a validation split. Borrowed values stay borrowed (the tail points into them).
image_set split_tail(image_set& s, int n);

// A pixel thresholded as likelihood studies do: >= 128 -> 255, else 0. Every binarisation uses it.
inline std::uint8_t binary_pixel(std::uint8_t x) { return x >= 128 ? 255 : 0; }
// Every pixel of s so (real values are left alone).
void binarize_pixels(image_set& s);

struct dataset {
  image_set train;
  image_set test;   // count == 0 when there is no held-out set
  std::string name; // directory or file the data came from
};

// binarize_pixels on both sets of `d`.
dataset binarized(dataset d);

// Finds the images (and labels, when present) in `dir`: `train-images-idx3-ubyte` or
// `train-10k-images-idx3-ubyte` and `t10k-images-idx3-ubyte`, each raw or `.gz`.
dataset load_dataset_dir(const std::string& dir);

// Explicit files; `test_images` may be empty. Labels are looked for beside the images.
dataset load_dataset_files(const std::string& train_images, const std::string& test_images);

}  // namespace rbm
