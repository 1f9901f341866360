// The training loop and the files a run writes.
#include "rbm/host/trainer.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/progress.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/shuffle.hpp"

namespace fs = std::filesystem;

namespace rbm {
namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void validate(const dataset& data, const train_options& o) {
  auto positive = [](const char* what, double v) {
    if (!(v > 0)) throw precondition_error(std::string(what) + " must be positive (got " + std::to_string(v) + ")");
  };
  positive("--hidden", o.cd.nh);
  positive("--k", o.cd.k);
  positive("--epochs", o.epochs);
  positive("--batch", o.batch);
  positive("--lr", o.cd.lr);
  if (!(o.cd.momentum >= 0 && o.cd.momentum < 1))
    throw precondition_error("--momentum must be in [0, 1) (got " + std::to_string(o.cd.momentum) + ")");
  if (!(o.cd.weight_decay >= 0))
    throw precondition_error("--weight-decay must be non-negative (got " + std::to_string(o.cd.weight_decay) + ")");
  if (data.train.count <= 0) throw data_error(data.name + ": the training set is empty");
  if (o.tutorial_batches && data.train.count <= o.batch)
    throw precondition_error("the tutorial's batching needs more than --batch (" + std::to_string(o.batch) +
                             ") training samples, got " + std::to_string(data.train.count));
  if (std::size_t(o.cd.nv) * o.cd.nh > (std::size_t(1) << 31))
    throw precondition_error("a " + std::to_string(o.cd.nv) + " x " + std::to_string(o.cd.nh) +
                             " weight matrix exceeds 2^31 elements");
}

// Creates `dir` and proves it writable before any work starts.
void prepare_out_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw data_error(dir + ": cannot create the output directory (" + ec.message() + ")");
  if (::access(dir.c_str(), W_OK) != 0) throw data_error(dir + ": the output directory is not writable");
}

std::string metadata_json(const train_options& o, const dataset& data, const std::string& backend_name) {
  nlohmann::json c = {{"nv", o.cd.nv}, {"nh", o.cd.nh}, {"k", o.cd.k}, {"pcd", o.cd.pcd}, {"lr", o.cd.lr},
                      {"momentum", o.cd.momentum}, {"weight_decay", o.cd.weight_decay},
                      {"sparsity_target", o.cd.sparsity_target}, {"sparsity_cost", o.cd.sparsity_cost},
                      {"sum_weight_gradient", o.cd.sum_weight_gradient},
                      {"hidden_bias_from_states", o.cd.hidden_bias_from_states}, {"seed", o.cd.seed},
                      {"batch", o.batch}, {"epochs", o.epochs}, {"zero_init", o.zero_init},
                      {"tutorial_batches", o.tutorial_batches}, {"preset", o.preset}, {"backend", backend_name},
                      {"gemm", to_string(o.gpu.mode)},
                      {"image_rows", data.train.rows}, {"image_cols", data.train.cols}};
  return c.dump();
}

void check_finite(const eval_result& r, int epoch, const char* which) {
  if (!std::isfinite(r.err_sampled) || !std::isfinite(r.err_mean_field) || !std::isfinite(r.free_energy))
    throw error("training diverged at epoch " + std::to_string(epoch) + ": the " + which +
                " metrics are not finite (is the learning rate too large?)");
}

}  // namespace

std::unique_ptr<backend> make_backend(const std::string& device, const cd_config& cfg, int max_batch,
                                      const gpu_options& gpu, std::string& why) {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw precondition_error("--device must be auto, cpu or cuda (got '" + device + "')");
  if (gpu.resident != "auto" && gpu.resident != "on" && gpu.resident != "off")
    throw precondition_error("--resident must be auto, on or off (got '" + gpu.resident + "')");
  std::string fallback;
  if (device != "cpu") {
    const device_report rep = query_devices();
    if (rep.devices.empty()) {
      if (device == "cuda") throw error("--device cuda: no usable GPU (" + rep.reason + ")");
      fallback = "no usable GPU (" + rep.reason + ")";
    } else {
      try {
        auto b = std::make_unique<cuda_backend>(cfg, max_batch, gpu);
        why = "using the CUDA backend (--device " + device + "): " + b->name();
        return b;
      } catch (const out_of_memory& e) {
        throw error("--device " + device + ": a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) +
                    " model with batch " + std::to_string(max_batch) + " does not fit on the GPU: " + e.what());
      } catch (const error& e) {
        if (device == "cuda") throw error(std::string("--device cuda: the GPU cannot be used: ") + e.what());
        fallback = std::string("the GPU cannot be used (") + e.what() + ")";
      }
    }
  }
  auto b = std::make_unique<cpu_backend>(cfg);
  why = device == "cpu" ? "using the CPU backend (--device cpu): " + b->name()
                        : "using the CPU backend (--device auto): " + fallback + "; " + b->name();
  return b;
}

std::string metrics_csv(const std::vector<epoch_metrics>& history) {
  std::string s =
      "epoch,samples_seen,seconds,samples_per_s,train_err_sampled,train_err_mean_field,test_err_sampled,"
      "test_err_mean_field,train_free_energy,test_free_energy,free_energy_gap\n";
  char line[512];
  for (const auto& m : history) {
    const bool has_test = m.test.samples > 0;
    std::snprintf(line, sizeof line, "%d,%ld,%.3f,%.1f,%.6f,%.6f,%s,%s,%.4f,%s,%s\n", m.epoch, m.samples_seen,
                  m.seconds, m.samples_per_s, m.train.err_sampled, m.train.err_mean_field,
                  has_test ? std::to_string(m.test.err_sampled).c_str() : "",
                  has_test ? std::to_string(m.test.err_mean_field).c_str() : "", m.train.free_energy,
                  has_test ? std::to_string(m.test.free_energy).c_str() : "",
                  has_test ? std::to_string(m.test.free_energy - m.train.free_energy).c_str() : "");
    s += line;
  }
  return s;
}

train_result train(const dataset& data, const train_options& opts_in) {
  train_options o = opts_in;
  o.cd.nv = data.train.dim();
  model_params start;
  if (!o.init_from.empty()) {
    saved_model m = load_model(o.init_from);
    if (m.params.nv != o.cd.nv)
      throw data_error(o.init_from + ": the model has " + std::to_string(m.params.nv) + " visible units but the data has " +
                       std::to_string(o.cd.nv) + " pixels per image");
    o.cd.nh = m.params.nh;
    start = std::move(m.params);
  }
  validate(data, o);
  if (data.test.count > 0 && data.test.dim() != o.cd.nv)
    throw data_error(data.test.source + ": held-out images do not match the training images in size");
  std::string why;
  std::unique_ptr<backend> be = make_backend(o.device, o.cd, o.batch, o.gpu, why);
  prepare_out_dir(o.out_dir);  // last check: nothing is created for a run that cannot start
  progress prog(o.quiet);
  prog.note(why);
  if (start.nv == 0) start = init_params(o.cd.nv, o.cd.nh, data.train.pixels.data(), data.train.count, o.cd.seed, o.zero_init);
  be->set_params(start);

  const int n = data.train.count, nv = o.cd.nv;
  const int eval_rows = o.eval_limit > 0 ? std::min(n, o.eval_limit) : n;
  const std::string meta_config = metadata_json(o, data, be->name());
  const fs::path out(o.out_dir);

  train_result res;
  res.backend_name = be->name();
  const auto t0 = clock_type::now();
  long seen = 0;
  auto evaluate_epoch = [&](int epoch, double rate) {
    epoch_metrics m;
    m.epoch = epoch;
    m.samples_seen = seen;
    m.samples_per_s = rate;
    m.train = be->evaluate(data.train.pixels.data(), eval_rows);
    check_finite(m.train, epoch, "training");
    if (data.test.count > 0) {
      m.test = be->evaluate(data.test.pixels.data(), data.test.count);
      check_finite(m.test, epoch, "held-out");
    }
    m.seconds = since(t0);
    res.history.push_back(m);
    write_file_atomic((out / "metrics.csv").string(), metrics_csv(res.history));
    return m;
  };
  auto save = [&](int epoch) {
    save_model((out / "model.safetensors").string(), be->params(),
               {{"format", "rbm"}, {"config", meta_config}, {"epoch", std::to_string(epoch)},
                {"dataset", data.name}, {"rbm_version", "0.1.0"}});
  };

  evaluate_epoch(0, 0.0);
  be->attach_training_data(data.train.pixels.data(), n, nv);
  std::vector<int> order(n);
  for (int e = 1; e <= o.epochs; ++e) {
    const int full = o.tutorial_batches ? (n - 1) / o.batch : n / o.batch;
    const int nbatches = o.tutorial_batches || n % o.batch == 0 ? full : full + 1;
    if (o.tutorial_batches) {
      for (int i = 0; i < n; ++i) order[i] = i;
    } else {
      epoch_permutation(o.cd.seed, e, order);
    }
    const auto te = clock_type::now();
    be->reset_train_error();
    long epoch_samples = 0;
    for (int b = 0; b < nbatches; ++b) {
      const int first = b * o.batch, rows = std::min(o.batch, n - first);
      be->train_indices(order.data() + first, rows);
      seen += rows;
      epoch_samples += rows;
      if (prog.due(since(t0), b + 1 == nbatches))  // reading the error may wait for the GPU: only when shown
        prog.batch(e, o.epochs, b + 1, nbatches, epoch_samples / std::max(since(te), 1e-9), since(t0), be->train_error());
    }
    be->train_error();  // waits for the epoch's last update, so the rate below counts all of it
    const double rate = double(epoch_samples) / std::max(since(te), 1e-9);
    const epoch_metrics m = evaluate_epoch(e, rate);
    save(e);
    prog.epoch(m.epoch, o.epochs, m.samples_per_s, m.train.err_sampled, m.test.samples > 0 ? m.test.err_sampled : -1.0,
               m.seconds);
  }

  res.params = be->params();
  write_png((out / "filters.png").string(), tile_filters(res.params, data.train.rows, data.train.cols));
  std::vector<curve> curves(4);
  curves[0] = {"train, sampled (tutorial)", {}, 200, 30, 30};
  curves[1] = {"train, mean-field", {}, 240, 150, 40};
  curves[2] = {"held-out, sampled", {}, 30, 80, 200};
  curves[3] = {"held-out, mean-field", {}, 40, 170, 200};
  for (const auto& m : res.history) {
    curves[0].y.push_back(m.train.err_sampled);
    curves[1].y.push_back(m.train.err_mean_field);
    if (m.test.samples > 0) {
      curves[2].y.push_back(m.test.err_sampled);
      curves[3].y.push_back(m.test.err_mean_field);
    }
  }
  if (data.test.count == 0) curves.resize(2);
  write_png((out / "error.png").string(), plot_curves(curves, "reconstruction error", "epoch"));
  return res;
}

}  // namespace rbm
