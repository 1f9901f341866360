// Shared pieces of the `rbm` command-line program: data options, and how subcommands register.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rbm/host/idx.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/safetensors.hpp"

namespace rbm_cli {

struct data_options {
  std::string dir, train_images, test_images, train_data, test_data, image_shape, train_labels, test_labels;
  int train_limit = 0, test_limit = 0;
};

// --data, --train-images, --test-images, --train-data, --test-data, --train-labels, --test-labels,
// --image-shape, --train-limit,
// --test-limit.
void add_data_options(CLI::App* app, data_options& d);
// Loads what the options name (the built-in digits by default). Throws rbm::data_error.
// The model file a picture tool or the classifier reads (rbm::load_model), refused where the tool
// cannot read its units yet (categorical visible units, unless `categorical_ok`: rbm evaluate,
// classify, features, reconstruct, sample and filters read them).
rbm::saved_model tool_model(const std::string& path, bool categorical_ok = false);
rbm::dataset load_data(const data_options& d);
// The same, read as the model whose file metadata this is was trained: its pixels binarised where it
// was trained with binarize (rbm::trained_binarized), so every tool sees what training saw.
rbm::dataset load_data(const data_options& d, const std::map<std::string, std::string>& model_metadata);

// The standardisation a model was trained with (its data_mean / data_std tensors), or empty vectors.
// Throws data_error when they do not fit its `nv` visible units.
// Comma-separated values of an option ("500,500,2000"); precondition_error naming the option otherwise.
std::vector<int> parse_ints(const std::string& s, const char* option);
std::vector<float> parse_floats(const std::string& s, const char* option);

void standardization_of(const std::string& model_path, int nv, std::vector<float>& mean, std::vector<float>& sd);
// The real values of a set as the model sees them: .npy values, or pixels / 255 for IDX data,
// standardised with `mean` / `sd` when they are not empty.
std::vector<float> model_values(const rbm::image_set& set, const std::vector<float>& mean, const std::vector<float>& sd);

// The picture shape of a model: from its metadata when it was trained here, else square.
inline std::pair<int, int> image_shape(const rbm::saved_model& m) { return rbm::picture_shape(m); }

// CLI11 validators for numeric options, checked while parsing (before any work or file), the message
// naming the option and the range: a finite number in [lo, hi] (NaN and infinities refused), an
// integer in [lo, hi], a seed (decimal digits alone, at most 2^64 - 1: a negative one would wrap).
CLI::Validator finite_in(double lo, double hi, bool open_hi = false);  // open_hi: [lo, hi)
CLI::Validator integer_in(long long lo, long long hi);
CLI::Validator seed_value();
constexpr long long int_max = 2147483647;

// A subcommand and what runs when it was chosen; the function returns the exit code and may throw.
using command_list = std::vector<std::pair<CLI::App*, std::function<int()>>>;

void register_train(CLI::App& app, command_list& out);
void register_info(CLI::App& app, command_list& out);
void register_tools(CLI::App& app, command_list& out);      // reconstruct, sample, filters, features, prob
void register_evaluate(CLI::App& app, command_list& out);   // evaluate, import
void register_classify(CLI::App& app, command_list& out);   // classify (models with a label group)

}  // namespace rbm_cli
