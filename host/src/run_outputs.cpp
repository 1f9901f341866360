// What a run writes: the output directory itself, metrics.csv, the checkpoints, the pictures (run_files).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "rbm/error.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/safetensors.hpp"
#include "train_parts.hpp"

namespace fs = std::filesystem;

namespace rbm {
namespace detail {

bool prepare_out_dir(const std::string& dir) {
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw data_error(dir + ": cannot create the output directory (" + ec.message() + ")");
  if (::access(dir.c_str(), W_OK) != 0) throw data_error(dir + ": the output directory is not writable");
  return !existed;
}

std::string write_pictures(const fs::path& out, const model_params& p, const dataset& data,
                           const std::vector<epoch_metrics>& history) {
  if (data.train.rows > 1)  // a picture shape; 1 x D real-valued samples have none to tile
    write_png((out / "filters.png").string(), tile_filters(p, data.train.rows, data.train.cols));
  if (!can_plot()) return "error.png and likelihood.png not drawn: this build has no plotting library (cairo)";
  std::vector<curve> curves(4);
  curves[0] = {"train, sampled (tutorial)", {}, 200, 30, 30};
  curves[1] = {"train, mean-field", {}, 240, 150, 40};
  curves[2] = {"held-out, sampled", {}, 30, 80, 200};
  curves[3] = {"held-out, mean-field", {}, 40, 170, 200};
  curve ll{"held-out log-likelihood (AIS)", {}, 30, 120, 60};
  for (const auto& m : history) {
    curves[0].y.push_back(m.train.err_sampled);
    curves[1].y.push_back(m.train.err_mean_field);
    curves[0].x.push_back(m.epoch);
    curves[1].x.push_back(m.epoch);
    if (m.test.samples > 0) {
      curves[2].y.push_back(m.test.err_sampled);
      curves[3].y.push_back(m.test.err_mean_field);
      curves[2].x.push_back(m.epoch);
      curves[3].x.push_back(m.epoch);
    }
    if (std::isfinite(m.test_log_likelihood)) {
      ll.y.push_back(m.test_log_likelihood);
      ll.x.push_back(m.epoch);
    }
  }
  if (data.test.count == 0) curves.resize(2);
  const bool real = p.visible == unit_kind::gaussian;
  write_png((out / "error.png").string(),
            plot_curves(curves, "reconstruction error", "epoch", real ? "mean squared error (the model's units)" : "mean squared error (pixels in [0, 1])"));
  if (!ll.y.empty())
    write_png((out / "likelihood.png").string(),
              plot_curves({ll}, "held-out log-likelihood", "epoch", real ? "nats per sample (density)" : "nats per image"));
  return "";
}

namespace {

// filters-epoch-NNN.png every snapshot_every epochs (not the last: filters.png is that).
bool wants_snapshot(const run_view& v, int e) {
  return v.o.snapshot_every > 0 && e > 0 && e % v.o.snapshot_every == 0 && e != v.o.epochs && v.data.train.rows > 1;
}
fs::path snapshot_path(const fs::path& out, int e) {
  char name[64];
  std::snprintf(name, sizeof name, "filters-epoch-%03d.png", e);
  return out / name;
}
void write_snapshot(const fs::path& out, const run_view& v, int e) {
  write_png(snapshot_path(out, e).string(), tile_filters(v.be.params(), v.data.train.rows, v.data.train.cols));
}

}  // namespace

run_files::run_files(const std::string& dir, const nlohmann::json& config, const standardization& stats)
    : out_(dir), config_(config), stats_(stats) {
  if (prepare_out_dir(dir)) created_.watch(dir);  // the last check before the run creates anything
  lock_ = std::make_unique<output_lock>(dir);      // one writer per directory, for the whole run
}

run_files::~run_files() = default;

void run_files::save(const run_view& v, int epoch, int batch) const {
  save_checkpoint((out_ / "model.safetensors").string(), v.be, epoch, batch, v.seen, config_, v.data.name, v.history,
                  stats_);
}

void run_files::resumed(const run_view& v, int epoch, int batch) {
  // What a kill can leave behind: temporaries of interrupted atomic writes (this run holds the
  // directory's lock, so none is another's), a metrics.csv ahead of the checkpoint (written, then the
  // checkpoint's write failed: rewritten from the checkpoint's own history), and a snapshot lost between
  // an epoch's checkpoint and its picture (drawn now from the checkpoint).
  lock_->remove_stale_temporaries();
  write_file_atomic((out_ / "metrics.csv").string(), metrics_csv(v.history));
  if (batch == 0 && wants_snapshot(v, epoch) && !fs::exists(snapshot_path(out_, epoch))) write_snapshot(out_, v, epoch);
}

void run_files::evaluated(const run_view& v) {
  write_file_atomic((out_ / "metrics.csv").string(), metrics_csv(v.history));
}

void run_files::epoch_ended(const run_view& v, int epoch) {
  save(v, epoch, 0);
  if (wants_snapshot(v, epoch)) write_snapshot(out_, v, epoch);
}

void run_files::stopped(const run_view& v, int epoch, int batch) { save(v, epoch - 1, batch); }

void run_files::finished(const run_view& v, const model_params& p) {
  const std::string left_out = write_pictures(out_, p, v.data, v.history);
  if (!left_out.empty()) v.note(left_out);
}

}  // namespace detail

std::string metrics_csv(const std::vector<epoch_metrics>& history) {
  std::string s =
      "epoch,samples_seen,seconds,samples_per_s,lr,momentum,train_err_sampled,train_err_mean_field,test_err_sampled,"
      "test_err_mean_field,train_free_energy,test_free_energy,free_energy_gap,ais_log_z,test_log_likelihood\n";
  auto num = [](double x, const char* fmt) {
    if (!std::isfinite(x)) return std::string();
    char b[64];
    std::snprintf(b, sizeof b, fmt, x);
    return std::string(b);
  };
  const bool labeled = std::any_of(history.begin(), history.end(), [](const epoch_metrics& m) {
    return std::isfinite(m.train_accuracy);
  });
  if (labeled) s.insert(s.size() - 1, ",train_accuracy,test_accuracy,train_class_log_likelihood,test_class_log_likelihood");
  for (const auto& m : history) {
    const double nan = std::nan("");
    const bool t = m.test.samples > 0;
    s += std::to_string(m.epoch) + "," + std::to_string(m.samples_seen) + "," + num(m.seconds, "%.3f") + "," +
         num(m.samples_per_s, "%.1f") + "," + num(m.lr, "%.6g") + "," + num(m.momentum, "%.4g") + "," +
         num(m.train.err_sampled, "%.6f") + "," + num(m.train.err_mean_field, "%.6f") + "," +
         num(t ? m.test.err_sampled : nan, "%.6f") + "," + num(t ? m.test.err_mean_field : nan, "%.6f") + "," +
         num(m.train.free_energy, "%.4f") + "," + num(t ? m.test.free_energy : nan, "%.4f") + "," +
         num(t ? m.test.free_energy - m.train.free_energy : nan, "%.4f") + "," + num(m.ais_log_z, "%.4f") + "," +
         num(m.test_log_likelihood, "%.4f") +
         (labeled ? "," + num(m.train_accuracy, "%.4f") + "," + num(m.test_accuracy, "%.4f") + "," +
                        num(m.train_class_ll, "%.5f") + "," + num(m.test_class_ll, "%.5f")
                  : std::string()) +
         "\n";
  }
  return s;
}

}  // namespace rbm
