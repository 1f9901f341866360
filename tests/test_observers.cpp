// Observers a program installs (train_options::observers): every point of a run, in order, with what
// it may read there; the callbacks told through the same points first; a stop request; a resumed run.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "rbm/host/run_observer.hpp"
#include "rbm/host/trainer.hpp"

namespace {

// Writes each point it is told as a line ("epoch 2", "batch 2/3", ...), checking what the view says.
class recorder final : public rbm::run_observer {
 public:
  std::vector<std::string> events;
  std::atomic<bool>* stop_at_batch = nullptr;  // set after batch 2 of epoch 2
  int rows = 0;

  void resumed(const rbm::run_view&, int epoch, int batch) override {
    events.push_back("resumed " + std::to_string(epoch) + "/" + std::to_string(batch));
  }
  void evaluated(const rbm::run_view& v) override {
    events.push_back("evaluated " + std::to_string(v.history.back().epoch));
  }
  void batch_ended(const rbm::run_view& v, const rbm::batch_report& rep) override {
    events.push_back("batch " + std::to_string(rep.epoch) + "/" + std::to_string(rep.batch));
    EXPECT_GE(rep.error(), 0.0);
    if (stop_at_batch != nullptr && rep.epoch == 2 && rep.batch == 2) stop_at_batch->store(true);
    EXPECT_EQ(v.seen, long(rows) * (rep.epoch - 1) + 100L * rep.batch);  // batches of 100
  }
  void epoch_ended(const rbm::run_view& v, int epoch) override {
    events.push_back("epoch " + std::to_string(epoch));
    EXPECT_EQ(v.history.back().epoch, epoch);
    EXPECT_EQ(v.be.params().nv, 784);
  }
  void stopped(const rbm::run_view&, int epoch, int batch) override {
    events.push_back("stopped " + std::to_string(epoch) + "/" + std::to_string(batch));
  }
  void finished(const rbm::run_view& v, const rbm::model_params& p) override {
    events.push_back("finished");
    EXPECT_EQ(p.w, v.be.params().w);
  }
};

rbm::train_options small_run() {
  rbm::train_options o;
  o.cd.nh = 16;
  o.epochs = 2;
  o.device = "cpu";
  o.eval_limit = 100;
  return o;
}

TEST(Observers, AreToldEveryPointInOrderAfterTheCallbacks) {
  const rbm::dataset d = rbm_test::digits_subset(300, 100);
  recorder rec;
  rec.rows = 300;
  rbm::train_options o = small_run();
  o.observers = {&rec};
  o.on_epoch = [&rec](const rbm::epoch_metrics& m, int) { rec.events.push_back("on_epoch " + std::to_string(m.epoch)); };
  const rbm::train_result r = rbm::train(d, o);
  const std::vector<std::string> want = {"evaluated 0", "epoch 0",    "batch 1/1",  "batch 1/2", "batch 1/3",
                                         "evaluated 1", "on_epoch 1", "epoch 1",    "batch 2/1", "batch 2/2",
                                         "batch 2/3",   "evaluated 2", "on_epoch 2", "epoch 2",   "finished"};
  EXPECT_EQ(rec.events, want);
  EXPECT_EQ(r.history.size(), 3u);
}

TEST(Observers, HearAStopAndTheRunResumedFromItsCheckpoint) {
  const rbm::dataset d = rbm_test::digits_subset(400, 100);  // 4 batches an epoch
  const auto dir = rbm_test::fresh_dir();
  std::atomic<bool> stop{false};
  recorder rec;
  rec.rows = 400;
  rec.stop_at_batch = &stop;
  rbm::train_options o = small_run();
  o.epochs = 3;
  o.out_dir = (dir / "run").string();
  o.stop = &stop;
  o.observers = {&rec};
  EXPECT_THROW(rbm::train(d, o), rbm::interrupted);
  // The flag, set as batch 2 of epoch 2 is reported, is read after the next update: batch 3.
  ASSERT_GE(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[rec.events.size() - 2], "batch 2/2");
  EXPECT_EQ(rec.events.back(), "stopped 2/3");
  recorder again;
  again.rows = 400;
  rbm::train_options resume;
  resume.resume = o.out_dir;
  resume.epochs = 3;
  resume.device = "cpu";
  resume.observers = {&again};
  rbm::train(d, resume);
  ASSERT_GE(again.events.size(), 2u);
  EXPECT_EQ(again.events[0], "resumed 1/3");  // epoch 1 done, 3 batches of epoch 2
  EXPECT_EQ(again.events[1], "batch 2/4");    // the rest of epoch 2, then epoch 3
  EXPECT_EQ(again.events.back(), "finished");
}

}  // namespace
