// The training loop's parts, shared by the files train() is made of (internal: not installed).
//   train_options.cpp  option checks, the configuration JSON both ways, schedules, the preset
//   checkpoint.cpp     the checkpoint format (everything a run needs to resume exactly)
//   run_outputs.cpp    the run's files (run_files): the output directory, metrics.csv, checkpoints, pictures
//   train_data.cpp     data as the model reads it: real values, standardisation, validation split
//   backend_factory.cpp  which backend trains, and the memory a CPU run needs
//   trainer.cpp        train(): the run composed from these
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>
#include <nlohmann/json.hpp>

#include "rbm/host/categorical_data.hpp"
#include "rbm/host/output_lock.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm::detail {

// A number as a user wrote it: integers as integers, others in the shortest form ("0.5", "1e-05").
template <class T>
std::string shown(T v) {
  if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    std::ostringstream out;
    out << v;
    return out.str();
  }
}

// Options: every setting's range (precondition_error naming the option's parameter, never a flag).
void validate(const dataset& data, const train_options& o);
// Tempering's range and what it excludes (pcd; the label objectives' joint chain): validate's part that
// a stack's plan checks for its top layer before any layer trains.
void check_tempering(const train_options& o);
// The run's configuration as a checkpoint records it, and the options read back from one (what the
// user may change on resume is kept from `cli`).
nlohmann::json config_json(const train_options& o, const dataset& data, const std::string& backend_name);
train_options options_from_checkpoint(const nlohmann::json& c, const train_options& cli);
// The learning rate and momentum in force in epoch `epoch` (from 1).
double lr_of(const train_options& o, int epoch);
double momentum_of(const train_options& o, int epoch);

// Everything a run needs to continue from an output directory.
struct checkpoint {
  model_params params;
  training_state state;
  int epoch = 0;                 // finished epochs
  int batch = 0;                 // finished batches of the next epoch (an interrupted run)
  long samples_seen = 0;
  nlohmann::json config;
  std::string dataset;
  std::vector<epoch_metrics> history;
};

// The per-feature statistics the data were standardised with (empty: none), kept with the model so
// that tools can apply them to new data.
struct standardization {
  std::vector<float> mean, sd;
};

void save_checkpoint(const std::string& path, const backend& be, int epoch, int batch, long seen,
                     const nlohmann::json& config, const std::string& dataset_name,
                     const std::vector<epoch_metrics>& history, const standardization& stats);
// Throws data_error naming the file when `dir` holds no checkpoint or a malformed one.
checkpoint load_checkpoint(const std::string& dir);

// Creates `dir` and proves it writable before any work starts. Whether it created the directory (else
// it was there).
bool prepare_out_dir(const std::string& dir);

// Removes the output directory a failed run created, if the run left it empty (an error before the
// first file: nothing half-written, and no empty directory either).
class remove_if_failed_empty {
 public:
  remove_if_failed_empty() = default;
  void watch(const std::string& dir) { dir_ = dir; }
  ~remove_if_failed_empty() {
    std::error_code ec;
    if (!dir_.empty() && std::uncaught_exceptions() > exceptions_ && std::filesystem::is_empty(dir_, ec))
      std::filesystem::remove(dir_, ec);
  }
  remove_if_failed_empty(const remove_if_failed_empty&) = delete;
  remove_if_failed_empty& operator=(const remove_if_failed_empty&) = delete;

 private:
  std::string dir_;
  int exceptions_ = std::uncaught_exceptions();
};

// filters.png where the data has a picture shape; error.png (and likelihood.png where AIS ran) where the
// build draws plots. Returns a note for the caller when plots were left out.
std::string write_pictures(const std::filesystem::path& out, const model_params& p, const dataset& data,
                           const std::vector<epoch_metrics>& history);

// The files of a run with an output directory: the directory (created and proved writable at
// construction, removed again if the run fails leaving it empty) and its lock, metrics.csv after every
// evaluation, the checkpoint after every epoch and at a stop, snapshots of the filters, the pictures
// at the end; a resumed run first clears what a kill left behind.
class run_files final : public run_observer {
 public:
  // `config` (the checkpoint's configuration) and `stats` (the standardisation) belong to the run and
  // outlive this observer.
  run_files(const std::string& dir, const nlohmann::json& config, const standardization& stats);
  ~run_files() override;
  void resumed(const run_view& v, int epoch, int batch) override;
  void evaluated(const run_view& v) override;
  void epoch_ended(const run_view& v, int epoch) override;
  void stopped(const run_view& v, int epoch, int batch) override;
  void finished(const run_view& v, const model_params& p) override;

 private:
  void save(const run_view& v, int epoch, int batch) const;
  std::filesystem::path out_;
  const nlohmann::json& config_;
  const standardization& stats_;
  remove_if_failed_empty created_;  // declared before the lock: destroyed after it, the lock file gone first
  std::unique_ptr<output_lock> lock_;
};

// A lower bound on the bytes a CPU run of an nv x nh model with batches of `rows` needs, and the
// machine's memory (0 where it cannot be read).
double host_bytes_needed(int nv, int nh, int rows);
double host_bytes_present();

// Real values for Gaussian visible units: .npy values as they are, or pixels / 255.
dataset real_valued(const dataset& d);
// Standardised per feature with the training set's mean and standard deviation, computed by the
// backend (Thrust on the GPU); a feature that does not vary keeps a standard deviation of 1, so it is
// centred, never divided by zero.
void standardize_sets(dataset& r, backend& be, std::vector<float>& mean, std::vector<float>& sd);

}  // namespace rbm::detail
