// The CLI's progress line on stderr: redrawn in place on a terminal, plain lines otherwise (logs, CI).
// It is what `rbm train` installs as the training loop's callbacks; the library itself never prints.
#pragma once

#include <string>

#include "rbm/host/trainer.hpp"

namespace rbm_cli {

class progress {
 public:
  explicit progress(bool quiet);
  ~progress();
  void note(const std::string& line);
  // A line the user should act on, shown even when quiet ("warning: ...").
  void warning(const std::string& line);
  // Whether a batch line would be drawn now (a terminal, at most 10 times a second, and the last one).
  bool due(double elapsed_s, bool last) const;
  void batch(int epoch, int epochs, int batch, int batches, double samples_per_s, double elapsed_s, double err);
  void epoch(int epoch, int epochs, double samples_per_s, double train_err, double test_err, double elapsed_s);
  // An epoch of a labelled model: accuracy (training rows evaluated, held-out when there are some) and
  // the held-out mean log p(y | x).
  void classified(int epoch, int epochs, double samples_per_s, double train_acc, double test_acc, double test_ll,
                  double elapsed_s);

 private:
  bool quiet_, tty_, drawn_ = false;
  double last_draw_ = -1;
};

// The training callbacks that drive `p` (which must outlive the training run).
void install_progress(progress& p, rbm::train_options& o);

}  // namespace rbm_cli
