// Progress reporting; throttled so that drawing never shows in the throughput.
#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace rbm_cli {

progress::progress(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0) {}

progress::~progress() {
  if (drawn_) std::fputc('\n', stderr);
}

void progress::note(const std::string& line) {
  if (quiet_) return;
  if (drawn_) std::fputc('\n', stderr), drawn_ = false;
  std::fprintf(stderr, "%s\n", line.c_str());
}

void progress::warning(const std::string& line) {
  if (drawn_) std::fputc('\n', stderr), drawn_ = false;
  std::fprintf(stderr, "warning: %s\n", line.c_str());  // also with --quiet: it asks for action
}

bool progress::due(double elapsed_s, bool last) const {
  return !quiet_ && tty_ && (last || elapsed_s - last_draw_ >= 0.1);
}

void progress::batch(int epoch, int epochs, int batch, int batches, double samples_per_s, double elapsed_s, double err) {
  if (quiet_ || !tty_) return;
  last_draw_ = elapsed_s;
  const double done = (epoch - 1 + double(batch) / batches) / epochs;
  const double eta = done > 0 ? elapsed_s * (1 - done) / done : 0;
  std::fprintf(stderr, "\r\033[Kepoch %d/%d  batch %d/%d  %.0f samples/s  ETA %.0fs  batch error %.4f", epoch, epochs,
               batch, batches, samples_per_s, eta, err);
  drawn_ = true;
}

void progress::epoch(int epoch, int epochs, double samples_per_s, double train_err, double test_err, double elapsed_s) {
  if (quiet_) return;
  if (tty_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
  if (test_err >= 0) {
    std::fprintf(stderr, "epoch %d/%d  %.0f samples/s  reconstruction error %.6f (held-out %.6f)  %.1fs\n", epoch,
                 epochs, samples_per_s, train_err, test_err, elapsed_s);
  } else {
    std::fprintf(stderr, "epoch %d/%d  %.0f samples/s  reconstruction error %.6f  %.1fs\n", epoch, epochs,
                 samples_per_s, train_err, elapsed_s);
  }
}

void progress::classified(int epoch, int epochs, double samples_per_s, double train_acc, double test_acc,
                          double test_ll, double elapsed_s) {
  if (quiet_) return;
  if (tty_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
  if (std::isfinite(test_acc))
    std::fprintf(stderr, "epoch %d/%d  %.0f samples/s  accuracy %.4f (held-out %.4f, log p(y|x) %.4f)  %.1fs\n", epoch,
                 epochs, samples_per_s, train_acc, test_acc, test_ll, elapsed_s);
  else
    std::fprintf(stderr, "epoch %d/%d  %.0f samples/s  accuracy %.4f  %.1fs\n", epoch, epochs, samples_per_s, train_acc,
                 elapsed_s);
}

void install_progress(progress& p, rbm::train_options& o) {
  o.on_note = [&p](const std::string& line) { p.note(line); };
  o.on_warning = [&p](const std::string& line) { p.warning(line); };
  o.on_batch = [&p](const rbm::batch_report& b) {
    if (p.due(b.elapsed_s, b.batch == b.batches))  // reading the error may wait for the GPU: only when shown
      p.batch(b.epoch, b.epochs, b.batch, b.batches, b.samples_per_s, b.elapsed_s, b.error());
  };
  o.on_epoch = [&p](const rbm::epoch_metrics& m, int epochs) {
    if (std::isfinite(m.train_accuracy))
      p.classified(m.epoch, epochs, m.samples_per_s, m.train_accuracy, m.test_accuracy, m.test_class_ll, m.seconds);
    else
      p.epoch(m.epoch, epochs, m.samples_per_s, m.train.err_sampled, m.test.samples > 0 ? m.test.err_sampled : -1.0,
              m.seconds);
  };
}

}  // namespace rbm_cli
