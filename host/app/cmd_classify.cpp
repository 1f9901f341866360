// `rbm classify`: the exact p(y | x) of a model with a label group, for a data set's held-out images
// (predictions.csv, accuracy, per-class accuracy, the confusion matrix printed, in JSON and as a
// picture, the worst-classified images as a sheet) or for one picture (`--image`).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "rbm/host/categorical_data.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/tools.hpp"

namespace rbm_cli {
namespace {

// log p(y | x) [rows, K] of values [rows, nv], in chunks (the rows of a whole data set at once would
// take K doubles each, which is small; the chunks bound class_log_probs' scratch).
std::vector<double> log_probs(const rbm::model_params& p, const std::vector<float>& values, int rows) {
  std::vector<double> out(std::size_t(rows) * p.classes);
  const int chunk = 2000;
  for (int first = 0; first < rows; first += chunk) {
    const int n = std::min(chunk, rows - first);
    rbm::class_log_probs(p, values.data() + std::size_t(first) * p.nv, n, out.data() + std::size_t(first) * p.classes);
  }
  return out;
}

int argmax(const double* row, int k) { return int(std::max_element(row, row + k) - row); }

// K x K cells, dark where many of a row's images went to that column (each row normalised by its count).
rbm::raster confusion_picture(const std::vector<std::vector<long>>& c) {
  const int k = int(c.size()), cell = 24;
  rbm::raster img(k * cell + 1, k * cell + 1, 1, 128);
  for (int t = 0; t < k; ++t) {
    const long total = std::accumulate(c[t].begin(), c[t].end(), 0L);
    for (int q = 0; q < k; ++q) {
      const double f = total > 0 ? double(c[t][q]) / double(total) : 0.0;
      const auto grey = std::uint8_t(std::lround(255.0 * (1.0 - f)));
      for (int y = 1; y < cell; ++y)
        for (int x = 1; x < cell; ++x) img.pixels[std::size_t(t * cell + y) * img.width + q * cell + x] = grey;
    }
  }
  return img;
}

// The listed images of a set (grey, 0..255, or real values scaled over their range), tiled.
rbm::raster image_sheet(const rbm::image_set& set, const std::vector<int>& which) {
  const int n = int(which.size()), cols = std::max(1, int(std::ceil(std::sqrt(double(n))))), rows = (n + cols - 1) / cols;
  const int h = set.rows, w = set.cols;
  rbm::raster img(cols * (w + 1) + 1, rows * (h + 1) + 1, 1, 0);
  for (int t = 0; t < n; ++t) {
    const std::size_t base = std::size_t(which[t]) * set.dim();
    float lo = 0, hi = 255;
    if (set.real()) {
      const float* v = set.value_data() + base;
      lo = *std::min_element(v, v + set.dim());
      hi = *std::max_element(v, v + set.dim());
    }
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const std::size_t i = base + std::size_t(y) * w + x;
        const float px = set.real() ? (hi > lo ? 255.0f * (set.value_data()[i] - lo) / (hi - lo) : 0.0f) : set.pixels[i];
        img.pixels[std::size_t((t / cols) * (h + 1) + 1 + y) * img.width + (t % cols) * (w + 1) + 1 + x] =
            std::uint8_t(std::lround(px));
      }
  }
  return img;
}

struct classify_opts {
  std::string model, csv, json, image, confusion_png, worst_png, device = "auto";
  data_options data;
  bool invert = false, greedy = false;
  int worst = 25;
};

// A model that classifies: a single RBM, or a stack (its top layer has the labels; the rows go up
// through the layers below, the fine-tuned ones unless --greedy), and the standardisation it reads with.
struct classifier {
  bool stacked = false;
  rbm::stack_model stack;
  rbm::saved_model m;  // the RBM, or the stack's bottom layer with the file's metadata (the image shape)
  std::vector<float> mean, sd;
  std::string device;
  const rbm::model_params& top() const { return stacked ? stack.layers.back() : m.params; }
  // log p(y | x) [rows, K] of values [rows, nv] as the model reads them.
  std::vector<double> log_probs_of(const std::vector<float>& v, int rows) const {
    if (!stacked) return log_probs(m.params, v, rows);
    return log_probs(top(), rbm::features_at(stack, v.data(), rows, int(stack.layers.size()) - 1, device), rows);
  }
};

classifier load_classifier(const classify_opts& o) {
  classifier c;
  c.device = o.device;
  c.stacked = rbm::is_stack_file(o.model);
  if (c.stacked) {
    c.stack = rbm::load_stack(o.model);
    if (!o.greedy) c.stack = rbm::classifier_of(c.stack);  // fine-tuned layers where the file has them
    c.m.params = c.stack.layers[0];
    c.m.metadata = c.stack.metadata;
    c.mean = c.stack.data_mean;
    c.sd = c.stack.data_sd;
  } else {
    c.m = tool_model(o.model, /*categorical_ok=*/true);  // sequences classify from .npy states, not pictures
    standardization_of(o.model, c.m.params.nv, c.mean, c.sd);
  }
  if (!c.top().labeled())
    throw rbm::data_error(o.model + (c.stacked ? ": the stack's top layer has no label units; train one with rbm train "
                                                 "--labels --hidden N,M"
                                               : ": the model has no label units; train one with rbm train --labels"));
  return c;
}

// --image: one picture's class probabilities, most likely first.
void classify_picture(const classify_opts& o, const classifier& c, nlohmann::json& res) {
  const int k = c.top().classes;
  if (c.m.params.categorical())
    throw rbm::data_error(o.model + ": categorical visible units classify integer states (--train-data/--test-data), "
                                    "not a picture");
  const auto [rows, cols] = image_shape(c.m);
  rbm::image_set one;
  one.count = 1;
  one.rows = rows;
  one.cols = cols;
  one.pixels = rbm::load_picture(o.image, rows, cols, o.invert);
  if (rbm::trained_binarized(c.m.metadata)) rbm::binarize_pixels(one);
  const auto lp = c.log_probs_of(model_values(one, c.mean, c.sd), 1);
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return lp[a] > lp[b]; });
  std::printf("%s: class %d (p = %.4f)\n", o.image.c_str(), order[0], std::exp(lp[order[0]]));
  for (int y : order) std::printf("  p(%d) = %.6f\n", y, std::exp(lp[y]));
  res["image"] = o.image;
  res["predicted"] = order[0];
  res["probabilities"] = nlohmann::json::array();
  for (int y = 0; y < k; ++y) res["probabilities"].push_back(std::exp(lp[y]));
}

// The confusion matrix with each class's accuracy, printed and into res.
void report_confusion(const std::vector<std::vector<long>>& confusion, nlohmann::json& res) {
  const int k = int(confusion.size());
  res["per_class_accuracy"] = nlohmann::json::array();
  res["confusion"] = confusion;
  std::printf("confusion (rows: true class, columns: predicted)\n      ");
  for (int q = 0; q < k; ++q) std::printf("%6d", q);
  std::printf("  accuracy\n");
  for (int t = 0; t < k; ++t) {
    const long total = std::accumulate(confusion[t].begin(), confusion[t].end(), 0L);
    const double a = total > 0 ? double(confusion[t][t]) / double(total) : std::nan("");
    res["per_class_accuracy"].push_back(total > 0 ? nlohmann::json(a) : nlohmann::json(nullptr));
    std::printf("%6d", t);
    for (int q = 0; q < k; ++q) std::printf("%6ld", confusion[t][q]);
    std::printf("  %.4f\n", a);
  }
}

// The --worst images by p(true class), as a sheet; their indices into res.
void write_worst(const classify_opts& o, const rbm::image_set& set, const std::vector<double>& lp, int k,
                 nlohmann::json& res) {
  std::vector<int> idx(set.count);
  std::iota(idx.begin(), idx.end(), 0);
  const int n = std::min(o.worst, set.count);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int a, int b) {
    return lp[std::size_t(a) * k + set.labels[a]] < lp[std::size_t(b) * k + set.labels[b]];
  });
  idx.resize(n);
  rbm::write_png(o.worst_png, image_sheet(set, idx));
  res["worst"] = idx;
}

// A data set's held-out images (its training ones where it has none): predictions.csv and, where the
// labels are known, accuracy, log p(y | x), the confusion matrix and the worst images.
void classify_set(const classify_opts& o, const classifier& c, nlohmann::json& res) {
  const rbm::model_params& p = c.top();
  const int k = p.classes, nv = c.m.params.nv;
  const rbm::model_params& bottom = c.m.params;
  const rbm::dataset raw = load_data(o.data, c.m.metadata);
  const rbm::dataset d = bottom.categorical() ? rbm::one_hot(raw, bottom.states) : raw;  // states made one-hot
  const rbm::image_set& set = d.test.count > 0 ? d.test : d.train;
  if (set.dim() != nv)
    throw rbm::data_error(set.source + ": images have " + std::to_string(set.dim()) + " pixels but the model has " +
                          std::to_string(nv) + " visible units");
  const bool known = set.labels.size() == std::size_t(set.count);
  if (known)
    for (std::uint8_t y : set.labels)
      if (y >= k)
        throw rbm::data_error(set.source + ": label " + std::to_string(y) + " is outside the model's " +
                              std::to_string(k) + " classes");
  const auto lp = c.log_probs_of(model_values(set, c.mean, c.sd), set.count);
  std::string csv = "index,label,predicted";
  for (int y = 0; y < k; ++y) csv += ",p_" + std::to_string(y);
  csv += "\n";
  std::vector<std::vector<long>> confusion(k, std::vector<long>(k, 0));
  long right = 0;
  double ll = 0;
  for (int r = 0; r < set.count; ++r) {
    const double* row = lp.data() + std::size_t(r) * k;
    const int pred = argmax(row, k);
    csv += std::to_string(r) + "," + (known ? std::to_string(set.labels[r]) : std::string()) + "," + std::to_string(pred);
    char b[32];
    for (int y = 0; y < k; ++y) {
      std::snprintf(b, sizeof b, ",%.6g", std::exp(row[y]));
      csv += b;
    }
    csv += "\n";
    if (known) {
      confusion[set.labels[r]][pred] += 1;
      right += pred == set.labels[r];
      ll += row[set.labels[r]];
    }
  }
  std::printf("model %s: %dx%d, %d classes; data %s (%d images classified)\n", o.model.c_str(), p.nv, p.nh, k,
              set.source.c_str(), set.count);
  res["images"] = set.count;
  res["source"] = set.source;
  if (known) {
    const double acc = double(right) / set.count;
    std::printf("accuracy %.4f (%ld of %d), error %.2f %%, mean log p(y | x) %.4f\n", acc, right, set.count,
                100.0 * (1.0 - acc), ll / set.count);
    res["accuracy"] = acc;
    res["log_p_y_given_x"] = ll / set.count;
    report_confusion(confusion, res);
    if (!o.confusion_png.empty()) rbm::write_png(o.confusion_png, confusion_picture(confusion));
    if (!o.worst_png.empty() && set.rows > 1) write_worst(o, set, lp, k, res);
  } else {
    std::printf("no labels for these images: predictions only\n");
  }
  if (!o.csv.empty()) rbm::write_file_atomic(o.csv, csv);
}

}  // namespace

void register_classify(CLI::App& app, command_list& out) {
  auto o = std::make_shared<classify_opts>();
  auto* c = app.add_subcommand("classify", "exact p(y | x) of a model trained with --labels: accuracy, confusion matrix");
  c->add_option("--model", o->model, "model.safetensors with a label group")->required();
  add_data_options(c, o->data);
  c->add_option("--out", o->csv, "predictions.csv: index,label,predicted,p_0,...,p_{K-1} (label empty where unknown)");
  c->add_option("--json", o->json, "also write the results here");
  c->add_option("--image", o->image, "classify this one picture (PNG, JPEG, PGM/PPM or BMP) instead of a data set");
  c->add_flag("--invert", o->invert, "--image: dark digits on a light background");
  c->add_flag("--greedy", o->greedy, "a fine-tuned stack: classify with its greedy layers instead of the tuned ones");
  c->add_option("--confusion-png", o->confusion_png, "the confusion matrix as a picture (rows: true class)");
  c->add_option("--worst-png", o->worst_png, "a sheet of the held-out images given the lowest p(true class)");
  c->add_option("--worst", o->worst, "images on --worst-png")->capture_default_str()
      ->check(integer_in(0, 10000));
  c->add_option("--device", o->device,
                "auto | cpu | cuda: where a stack's up-pass runs (the class probabilities: on the CPU)")
      ->capture_default_str();
  out.emplace_back(c, [o] {
    rbm::gpu_chosen(o->device);  // a bad name, or cuda where no GPU is usable: refused before any work
    const classifier model = load_classifier(*o);
    nlohmann::json res = {{"model", o->model}, {"classes", model.top().classes}};
    if (!o->image.empty())
      classify_picture(*o, model, res);
    else
      classify_set(*o, model, res);
    if (!o->json.empty()) rbm::write_file_atomic(o->json, res.dump(2) + "\n");
    return 0;
  });
}

}  // namespace rbm_cli
