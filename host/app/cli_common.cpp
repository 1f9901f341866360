// Data options shared by the subcommands.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include <sstream>
#include <type_traits>

#include "cli.hpp"
#include "rbm/host/npy.hpp"

#ifndef RBM_DATA_DIR
#define RBM_DATA_DIR "data/mnist"
#endif

namespace rbm_cli {

namespace {
constexpr const char* fashion_dir = "/usr/share/datasets/fashion-mnist";
}

void add_data_options(CLI::App* app, data_options& d) {
  app->add_option("--data", d.dir,
                  "directory with train-images-idx3-ubyte[.gz] (or train-10k-...) and t10k-images-idx3-ubyte[.gz]; "
                  "'fashion-mnist' means " +
                      std::string(fashion_dir) + " (default: the built-in MNIST digits)");
  app->add_option("--train-images", d.train_images, "IDX image file to train on (instead of --data)");
  app->add_option("--test-images", d.test_images, "IDX image file held out for evaluation (with --train-images)");
  app->add_option("--train-data", d.train_data,
                  "real-valued training data: a .npy matrix [samples, features] (float32, float64 or uint8, C order)");
  app->add_option("--test-data", d.test_data, "real-valued held-out data (.npy, with --train-data)");
  app->add_option("--train-labels", d.train_labels,
                  "class labels of the --train-data samples: a .npy vector of integers in [0, 255], one per sample");
  app->add_option("--test-labels", d.test_labels, "class labels of the --test-data samples (.npy, as --train-labels)");
  app->add_option("--image-shape", d.image_shape,
                  "HxW: the picture shape of a --train-data sample, for filters.png (e.g. 8x8)");
  app->add_option("--train-limit", d.train_limit, "use only the first N training images")->check(integer_in(0, int_max));
  app->add_option("--test-limit", d.test_limit, "use only the first N held-out images")->check(integer_in(0, int_max));
}

namespace {
template <class T>
std::string shown_range(T lo, T hi, bool open_hi) {
  std::ostringstream out;
  out << "[" << lo << ", " << hi << (open_hi || std::isinf(double(hi)) ? ")" : "]");
  return out.str();
}

// A number of type T (a double must be finite) in [lo, hi], or [lo, hi) with open_hi; `what` names the
// kind in the message ("a finite number", "an integer").
template <class T>
CLI::Validator number_in(T lo, T hi, bool open_hi, const char* what) {
  const std::string range = shown_range(lo, hi, open_hi);
  return CLI::Validator(
      [=](std::string& v) -> std::string {
        std::size_t used = 0;
        T x{};
        try {
          if constexpr (std::is_floating_point_v<T>)
            x = std::stod(v, &used);
          else
            x = std::stoll(v, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        const bool finite = !std::is_floating_point_v<T> || std::isfinite(double(x));
        if (v.empty() || used != v.size() || !finite || x < lo || (open_hi ? x >= hi : x > hi))
          return std::string("must be ") + what + " in " + range + " (got '" + v + "')";
        return {};
      },
      range);
}
}  // namespace

CLI::Validator finite_in(double lo, double hi, bool open_hi) { return number_in(lo, hi, open_hi, "a finite number"); }

CLI::Validator integer_in(long long lo, long long hi) { return number_in(lo, hi, false, "an integer"); }

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        const bool digits = !v.empty() && v.size() <= 20 &&
                            std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || (v.size() == 20 && v > "18446744073709551615"))
          return "must be an integer in [0, 18446744073709551615] (got '" + v + "')";
        return {};
      },
      "[0, 2^64-1]");
}

rbm::saved_model tool_model(const std::string& path, bool categorical_ok) {
  rbm::saved_model m = rbm::load_model(path);
  if (m.params.categorical() && !categorical_ok)
    throw rbm::data_error(path + ": categorical visible units: this tool does not read them yet (rbm evaluate, "
                                 "classify, features, reconstruct, sample and filters do)");
  return m;
}

rbm::dataset load_data(const data_options& d) {
  rbm::dataset ds;
  if (!d.test_data.empty() && d.train_data.empty())
    throw rbm::precondition_error("--test-data needs --train-data");
  if (!d.image_shape.empty() && d.train_data.empty())
    throw rbm::precondition_error("--image-shape applies to --train-data");
  if (!d.train_images.empty() && !d.dir.empty())
    throw rbm::precondition_error("--train-images replaces --data; give one of them");
  if (!d.test_images.empty() && d.train_images.empty())
    throw rbm::precondition_error("--test-images needs --train-images (with --data, the held-out images are the "
                                  "directory's t10k-images-idx3-ubyte)");
  if (!d.train_data.empty()) {
    if (!d.dir.empty() || !d.train_images.empty())
      throw rbm::precondition_error("--train-data replaces --data and --train-images; give one of them");
    int h = 0, w = 0;
    if (!d.image_shape.empty()) {
      char x = 0;
      std::istringstream in(d.image_shape);
      if (!(in >> h >> x >> w) || x != 'x' || h <= 0 || w <= 0 || !in.eof())
        throw rbm::precondition_error("--image-shape must be HxW with positive sizes (got '" + d.image_shape + "')");
    }
    ds = rbm::load_npy_dataset(d.train_data, d.test_data, h, w);
    if (!d.train_labels.empty()) rbm::attach_labels(ds.train, d.train_labels);
    if (!d.test_labels.empty()) {
      if (d.test_data.empty()) throw rbm::precondition_error("--test-labels needs --test-data");
      rbm::attach_labels(ds.test, d.test_labels);
    }
  } else if (!d.train_labels.empty() || !d.test_labels.empty()) {
    throw rbm::precondition_error("--train-labels and --test-labels label .npy data (--train-data, --test-data); "
                                  "IDX sets read their label files beside the images");
  } else if (!d.train_images.empty()) {
    ds = rbm::load_dataset_files(d.train_images, d.test_images);
  } else {
    std::string dir = d.dir.empty() ? std::string(RBM_DATA_DIR) : d.dir;
    if (dir == "fashion-mnist" || dir == "fashion") dir = fashion_dir;
    ds = rbm::load_dataset_dir(dir);
  }
  rbm::truncate(ds.train, d.train_limit);
  rbm::truncate(ds.test, d.test_limit);
  return ds;
}

rbm::dataset load_data(const data_options& d, const std::map<std::string, std::string>& model_metadata) {
  rbm::dataset ds = load_data(d);
  return rbm::trained_binarized(model_metadata) ? rbm::binarized(std::move(ds)) : ds;
}

void standardization_of(const std::string& model_path, int nv, std::vector<float>& mean, std::vector<float>& sd) {
  mean.clear();
  sd.clear();
  const rbm::tensor_file f = rbm::read_tensors(model_path);
  if (!f.tensors.count("data_mean") || !f.tensors.count("data_std")) return;
  mean = f.tensors.at("data_mean").data;
  sd = f.tensors.at("data_std").data;
  if (mean.size() != std::size_t(nv) || sd.size() != std::size_t(nv))
    throw rbm::data_error(model_path + ": data_mean / data_std do not fit the model's " + std::to_string(nv) +
                          " visible units");
}

// The real values of a set (pixels / 255 for IDX data), standardised with the model's statistics when
// it was trained with --standardize.
std::vector<float> model_values(const rbm::image_set& set, const std::vector<float>& mean, const std::vector<float>& sd) {
  std::vector<float> v = set.values;
  if (!set.real()) {
    v.resize(set.pixels.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(set.pixels[i]);
  }
  if (!mean.empty())
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = (v[i] - mean[i % mean.size()]) / sd[i % sd.size()];
  return v;
}

namespace {
template <class T>
std::vector<T> parse_list(const std::string& s, const char* option, const char* kind, T (*convert)(const std::string&, std::size_t*)) {
  std::vector<T> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      std::size_t used = 0;
      out.push_back(convert(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw rbm::precondition_error(std::string(option) + ": '" + item + "' is not " + kind);
    }
  }
  if (out.empty()) throw rbm::precondition_error(std::string(option) + ": no values given");
  return out;
}
int to_int(const std::string& s, std::size_t* used) { return std::stoi(s, used); }
float to_float(const std::string& s, std::size_t* used) { return std::stof(s, used); }
}  // namespace

std::vector<int> parse_ints(const std::string& s, const char* option) {
  return parse_list<int>(s, option, "an integer", to_int);
}

std::vector<float> parse_floats(const std::string& s, const char* option) {
  return parse_list<float>(s, option, "a number", to_float);
}

}  // namespace rbm_cli
