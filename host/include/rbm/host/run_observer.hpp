// What a training run tells those who watch it, as it goes: its points (resumed, a new row of metrics,
// a batch, an epoch, a stop, the end) and what they may read there. The loop itself writes nothing:
// the run's files, the caller's progress callbacks and any observer a program installs through
// train_options::observers (a logger, a later MPI driver's rank 0) are all run_observers.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"

namespace rbm {

struct train_options;  // rbm/host/trainer.hpp

// One row of metrics.csv.
struct epoch_metrics {
  int epoch = 0;
  long samples_seen = 0;
  double seconds = 0;            // wall time since training started, evaluation included
  double samples_per_s = 0;      // training throughput of this epoch alone
  eval_result train, test;
  double lr = 0, momentum = 0;   // in force during this epoch
  double ais_log_z = std::nan(""), test_log_likelihood = std::nan("");  // when AIS ran (eval_every)
  // A label group: accuracy of argmax p(y | x) and mean log p(y | x) (training rows evaluated, held-out set)
  double train_accuracy = std::nan(""), test_accuracy = std::nan("");
  double train_class_ll = std::nan(""), test_class_ll = std::nan("");
};

// One batch done: where training stands, and its running reconstruction error on request (reading
// it may wait for the GPU, so a caller asks only when it shows the number).
struct batch_report {
  int epoch = 0, epochs = 0, batch = 0, batches = 0;
  double samples_per_s = 0, elapsed_s = 0;
  std::function<double()> error;
};

// What a run shows its observers at each point: the options it trains with (a resumed run's from its
// checkpoint), the backend (its parameters and state: be.params(), be.state()), the data as it trains
// (prepared: binarised, one-hot, standardised), the metrics so far (history.back() the newest), the
// samples trained on, and a way to tell the caller a line (train_options::on_note).
struct run_view {
  const train_options& o;
  const backend& be;
  const dataset& data;
  const std::vector<epoch_metrics>& history;
  long seen;
  const std::function<void(const std::string&)>& note;
};

// Those who act at a run's points. Called in the order installed (the run's files first, then the
// caller's callbacks, then train_options::observers); an exception thrown by one ends the run with it.
class run_observer {
 public:
  virtual ~run_observer() = default;
  // A resumed run, before it trains: `epoch` finished epochs and `batch` finished batches of the next.
  virtual void resumed(const run_view&, int /*epoch*/, int /*batch*/) {}
  // The history has a new row (epoch 0: the starting point).
  virtual void evaluated(const run_view&) {}
  // One batch trained (its report's error on request).
  virtual void batch_ended(const run_view&, const batch_report&) {}
  // Epoch `epoch` (0: the start) is trained and evaluated; a stop request is honoured after this.
  virtual void epoch_ended(const run_view&, int /*epoch*/) {}
  // A stop request ended epoch `epoch` after `batch` of its batches.
  virtual void stopped(const run_view&, int /*epoch*/, int /*batch*/) {}
  // The run is over: `p` its final parameters.
  virtual void finished(const run_view&, const model_params& /*p*/) {}
};

}  // namespace rbm
