// What the tutorial shows beyond training, as library functions the CLI calls: reading an arbitrary
// picture as a digit, reconstructions side by side, Gibbs-chain sample sheets, hidden features,
// single filters, and a softmax classifier for "are the features any good".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/image.hpp"

namespace rbm {

// Any PNG, JPEG, PGM/PPM, BMP or GIF, converted to grey and resized to rows x cols (uint8, row-major).
// `invert` maps dark-on-light pictures to MNIST's light-on-dark. Throws data_error naming the file.
std::vector<std::uint8_t> load_picture(const std::string& path, int rows, int cols, bool invert);
// The same on a file's bytes (`name` in messages); what the fuzzer drives.
std::vector<std::uint8_t> decode_picture(const std::string& name, const std::vector<std::uint8_t>& bytes, int rows,
                                         int cols, bool invert);

// Erases (sets to 0) the rectangle [x0, x1) x [y0, y1) of a rows x cols image.
struct rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
void erase_values(std::vector<float>& image, int rows, int cols, const rect& r);

// p(h | v) [rows, nh] for uint8 v [rows, nv] scaled by 1/255, on the CPU.
std::vector<float> hidden_probabilities(const model_params& p, const std::uint8_t* v, int rows);
// The same for real values v [rows, nv] in the model's units (Gaussian visible units see v / sigma).
std::vector<float> hidden_probabilities_values(const model_params& p, const float* v, int rows);
// The visible means [rows, nv] for h [rows, nh]: p(v = 1 | h) (Bernoulli), E[v | h] (Gaussian, model units).
std::vector<float> visible_probabilities(const model_params& p, const float* h, int rows);

struct reconstruction {
  std::vector<float> input, hidden, tutorial, mean_field;  // [nv], [nh], [nv], [nv]
};
// The tutorial's reconstruction (round p(h | v), then the visible means) and the mean-field one (the
// means given p(h | v)), for v [nv] in the model's units (pixels / 255 for Bernoulli models).
reconstruction reconstruct_values(const model_params& p, const float* v);
// The same for a uint8 picture (pixels / 255).
reconstruction reconstruct(const model_params& p, const std::uint8_t* image);

// How visible values become grey levels in a picture: `lo` black, `hi` white, clamped.
struct grey_range {
  float lo = 0, hi = 1;
};
// The range of the values (hi > lo even for constant ones): Gaussian models' pictures use it.
grey_range range_of(const std::vector<float>& values);

// input | hidden activations (a near-square grid) | tutorial reconstruction | mean-field reconstruction,
// one row per image, each picture scaled by `zoom`; visible values drawn through `grey`.
raster reconstruction_sheet(const std::vector<reconstruction>& rows_of, int rows, int cols, int zoom,
                            grey_range grey = {});

// Gibbs chains: `chains` chains, `steps` sweeps (h ~ p(h | v), then v ~ p(v | h): a Bernoulli draw or a
// normal one around the Gaussian mean), and a snapshot of the visible means every `every` sweeps (and
// the starting values first). Chains start from `start` [chains, nv] (model units) or, when it is null,
// from noise: fair coin flips for Bernoulli units, vb + sigma N(0, 1) for Gaussian ones. Returns the
// snapshots, each [chains, nv] in model units. Categorical visible units: start from one-hot rows (or
// a uniformly random state per site), each site drawn from its softmax with one uniform; a snapshot is
// the drawn states themselves, [chains, sites] (state numbers).
std::vector<std::vector<float>> gibbs_snapshots(const model_params& p, int chains, int steps, int every,
                                                const float* start, std::uint64_t seed);
// One row per chain, one column per snapshot, 1-pixel gaps; values drawn through `grey`.
raster snapshot_sheet(const std::vector<std::vector<float>>& snapshots, int rows, int cols, grey_range grey = {});
// Both, for a Bernoulli model started from uint8 pictures (or noise when `start` is null).
raster sample_sheet(const model_params& p, int rows, int cols, int chains, int steps, int every,
                    const std::uint8_t* start, std::uint64_t seed);

// Writes a float32 matrix [rows, cols] as .npy (NumPy) or, for any other extension, .safetensors
// with the tensor named `name`. Atomic.
void write_matrix(const std::string& path, const std::string& name, const std::vector<float>& m, int rows, int cols);

// Softmax regression on features [n, d] with labels 0..classes-1 (mini-batch gradient descent with
// momentum, L2), returning the accuracy on the test features. Deterministic for a seed.
double softmax_accuracy(const std::vector<float>& train_x, const std::vector<std::uint8_t>& train_y,
                        const std::vector<float>& test_x, const std::vector<std::uint8_t>& test_y, int d,
                        int classes = 10, int epochs = 30, std::uint64_t seed = 1);

}  // namespace rbm
