// Checkpoints carry everything: N epochs straight equal N/2, stop, resume, N/2 — bit for bit — and the
// training schedules (momentum, learning-rate decay), early stopping and snapshots do what they say.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <fstream>

#include "helpers.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/shuffle.hpp"
#include "rbm/host/trainer.hpp"

namespace fs = std::filesystem;

namespace {

rbm::dataset small_digits() {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 700);
  rbm::truncate(d.test, 200);
  return d;
}

rbm::train_options pcd_options(const std::string& out) {
  rbm::train_options o;
  o.cd.nh = 30;
  o.cd.k = 2;
  o.cd.pcd = true;
  o.cd.seed = 17;
  o.batch = 64;  // 700 = 10 x 64 + 60: a partial batch every epoch
  o.initial_momentum = 0.5f;
  o.momentum_epochs = 1;
  o.cd.momentum = 0.9f;
  o.lr_decay = 0.8f;
  o.device = "cpu";
  o.out_dir = out;
  return o;
}

// Only what a user passes with --resume: the directory, the total epochs, the device.
rbm::train_options resume_options(const fs::path& dir, int epochs) {
  rbm::train_options again;
  again.resume = dir.string();
  again.epochs = epochs;
  again.device = "cpu";
  return again;
}

TEST(Resume, StoppingAndResumingEqualsNotStopping) {
  const auto d = small_digits();
  auto o = pcd_options(rbm_test::fresh_dir("straight").string());
  o.epochs = 4;
  const auto straight = rbm::train(d, o);

  const auto dir = rbm_test::fresh_dir("resumed");
  o = pcd_options(dir.string());
  o.epochs = 2;
  rbm::train(d, o);
  auto again = resume_options(dir, 4);
  const auto resumed = rbm::train(d, again);

  EXPECT_EQ(resumed.params.w, straight.params.w);
  EXPECT_EQ(resumed.params.vb, straight.params.vb);
  EXPECT_EQ(resumed.params.hb, straight.params.hb);
  ASSERT_EQ(resumed.history.size(), straight.history.size());
  for (std::size_t i = 0; i < straight.history.size(); ++i) {
    EXPECT_EQ(resumed.history[i].train.err_sampled, straight.history[i].train.err_sampled) << i;
    EXPECT_EQ(resumed.history[i].lr, straight.history[i].lr) << i;
    EXPECT_EQ(resumed.history[i].momentum, straight.history[i].momentum) << i;
  }
  // The schedules: momentum 0.5 in epoch 1 then 0.9; lr 0.1 * 0.8^(e-1).
  EXPECT_FLOAT_EQ(float(straight.history[1].momentum), 0.5f);
  EXPECT_FLOAT_EQ(float(straight.history[2].momentum), 0.9f);
  EXPECT_NEAR(straight.history[3].lr, 0.1 * 0.8 * 0.8, 1e-7);
  // The checkpoint holds the chains and the optimizer state.
  const auto t = rbm::read_tensors((dir / "model.safetensors").string());
  EXPECT_EQ(t.tensors.at("chain_h").shape, (std::vector<std::int64_t>{64, 30}));
  EXPECT_TRUE(t.tensors.count("vel_W"));
  EXPECT_EQ(t.metadata.at("epoch"), "4");
}

TEST(Resume, FinishesCompleteRunsAndRefusesOtherDataOrFewerEpochs) {
  const auto d = small_digits();
  const auto dir = rbm_test::fresh_dir();
  auto o = pcd_options(dir.string());
  o.epochs = 1;
  rbm::train(d, o);
  auto again = resume_options(dir, 1);
  fs::remove(dir / "filters.png");
  EXPECT_NO_THROW(rbm::train(d, again));  // already complete: only the pictures are written again
  EXPECT_TRUE(fs::exists(dir / "filters.png"));
  again.epochs = 2;
  rbm::train(d, again);
  again.epochs = 1;
  EXPECT_THROW(rbm::train(d, again), rbm::precondition_error);  // now has 2 epochs
  rbm::dataset other = d;
  rbm::truncate(other.train, 600);
  again.epochs = 3;
  EXPECT_THROW(rbm::train(other, again), rbm::data_error);
  again.resume = (dir / "nowhere").string();
  EXPECT_THROW(rbm::train(d, again), rbm::data_error);
}

// What a kill can leave (issue 23, item 8): temporaries of interrupted atomic writes and a metrics.csv
// row ahead of the checkpoint. --resume removes the first and rewrites metrics.csv from the checkpoint's
// history, so the finished run's metrics.csv is an uninterrupted run's, row for row (times aside); a
// snapshot the kill lost is drawn again.
TEST(Resume, RemovesAKillsLeftoversAndRewritesMetricsFromTheCheckpoint) {
  const auto d = small_digits();
  const auto dir = rbm_test::fresh_dir(), straight = rbm_test::fresh_dir("-straight");
  auto o = pcd_options(dir.string());
  o.epochs = 1;
  o.snapshot_every = 1;  // epoch 1's snapshot: lost (a one-epoch run draws filters.png instead)
  rbm::train(d, o);
  ASSERT_FALSE(fs::exists(dir / "filters-epoch-001.png"));
  for (const char* t : {".model.safetensors.tmp.4242", ".metrics.csv.tmp.17", ".filters-epoch-001.png.tmp.99"})
    rbm_test::write_text(dir / t, "half-written");
  rbm_test::write_text(dir / "keep.tmp.notes", "not ours");
  { std::ofstream(dir / "metrics.csv", std::ios::app) << "2,999,1,1,0.1,0.5,9,9,9,9,9,9,9,,\n"; }  // ahead
  rbm::train(d, resume_options(dir, 2));
  for (const char* t : {".model.safetensors.tmp.4242", ".metrics.csv.tmp.17", ".filters-epoch-001.png.tmp.99"})
    EXPECT_FALSE(fs::exists(dir / t)) << t;
  EXPECT_TRUE(fs::exists(dir / "keep.tmp.notes")) << "only write_file_atomic's own temporaries go";
  o.out_dir = straight.string();
  o.epochs = 2;
  rbm::train(d, o);
  auto rows = [](const fs::path& p) {  // each row without its seconds and samples/s (columns 3 and 4)
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) {
      std::vector<std::string> f;
      std::stringstream ss(l);
      for (std::string c; std::getline(ss, c, ',');) f.push_back(c);
      if (f.size() > 4) f.erase(f.begin() + 2, f.begin() + 4);
      std::string joined;
      for (const auto& c : f) joined += c + ",";
      out.push_back(joined);
    }
    return out;
  };
  EXPECT_EQ(rows(dir / "metrics.csv"), rows(straight / "metrics.csv"));
  // The lost snapshot, drawn by the resumed run from the checkpoint: the straight run's picture.
  EXPECT_EQ(rbm_test::read_bytes(dir / "filters-epoch-001.png"), rbm_test::read_bytes(straight / "filters-epoch-001.png"));
}

TEST(Resume, SnapshotsAndAisDuringTraining) {
  const auto d = small_digits();
  const auto dir = rbm_test::fresh_dir();
  auto o = pcd_options(dir.string());
  o.epochs = 4;
  o.snapshot_every = 2;
  o.eval_every = 3;
  o.ais.runs = 20;
  o.ais.steps = 300;
  const auto r = rbm::train(d, o);
  EXPECT_TRUE(fs::exists(dir / "filters-epoch-002.png"));
  EXPECT_FALSE(fs::exists(dir / "filters-epoch-004.png"));  // the last epoch's is filters.png
  EXPECT_TRUE(std::isnan(r.history[2].ais_log_z));
  ASSERT_TRUE(std::isfinite(r.history[3].ais_log_z));
  EXPECT_LT(r.history[3].test_log_likelihood, -50);  // a few hundred nats at most for 784 pixels
  EXPECT_GT(r.history[3].test_log_likelihood, -500);
}

rbm::train_options overfitting_options(const std::string& out) {
  auto o = pcd_options(out);
  o.cd.pcd = false;
  o.cd.nh = 200;
  o.cd.lr = 0.3f;
  o.epochs = 30;
  o.early_stop = 2;
  return o;
}

TEST(Resume, EarlyStoppingOnTheFreeEnergyGap) {
  const auto d = small_digits();
  const auto r = rbm::train(d, overfitting_options(rbm_test::fresh_dir().string()));
  // 200 units overfit 700 digits: the held-out minus training gap grows and the run stops early.
  ASSERT_LT(r.history.back().epoch, 30);
  auto gap = [&](std::size_t i) { return r.history[i].test.free_energy - r.history[i].train.free_energy; };
  const std::size_t last = r.history.size() - 1;
  EXPECT_GT(gap(last), gap(last - 1));
  EXPECT_GT(gap(last - 1), gap(last - 2));
}

// Interrupted in the middle of a run of growing gaps (after the first growth of the two that stop it),
// the resumed run counts that growth from the restored history and stops at the same epoch, with the
// same model, as the run that was never interrupted; resuming the finished run trains no further.
TEST(Resume, EarlyStoppingIsExactAcrossResume) {
  const auto d = small_digits();
  const auto straight = rbm::train(d, overfitting_options(rbm_test::fresh_dir("straight").string()));
  const int stop = straight.history.back().epoch;
  ASSERT_LT(stop, 30);
  ASSERT_GE(stop, 3);

  const auto dir = rbm_test::fresh_dir("resumed");
  auto o = overfitting_options(dir.string());
  o.epochs = stop - 1;
  rbm::train(d, o);
  auto again = resume_options(dir, 30);
  const auto resumed = rbm::train(d, again);
  EXPECT_EQ(resumed.history.back().epoch, stop);
  EXPECT_EQ(resumed.params.w, straight.params.w);
  EXPECT_EQ(resumed.params.hb, straight.params.hb);

  const auto finished = rbm::train(d, again);  // the stopped run, resumed again: nothing more to do
  EXPECT_EQ(finished.history.back().epoch, stop);
  EXPECT_EQ(finished.params.w, straight.params.w);
}

// What the trainer feeds the backend, replayed by hand on a CPU backend: each epoch's learning rate
// and momentum from the schedules (set before its first batch), then the batches of that epoch's
// permutation (epoch_permutation(seed, e)), the last one partial, gathered here row by row. The trained
// model must be the same bit for bit; a trainer that skipped the rates, the shuffle or the rows
// would not be.
TEST(Training, TheBackendGetsEachEpochsRatesAndPermutedBatches) {
  const auto d = small_digits();
  auto o = pcd_options(rbm_test::fresh_dir().string());
  o.cd.nh = 12;
  o.epochs = 3;
  o.initial_momentum = 0.2f;
  o.momentum_epochs = 2;
  o.cd.momentum = 0.8f;
  o.lr_decay = 0.5f;
  const auto trained = rbm::train(d, o);

  rbm::cd_config c = o.cd;
  c.nv = d.train.dim();
  rbm::cpu_backend be(c);
  be.set_params(rbm::init_params(c.nv, c.nh, d.train.pixels.data(), d.train.count, c.seed, false));
  const int n = d.train.count;
  std::vector<int> order(n);
  std::vector<std::uint8_t> batch;
  for (int e = 1; e <= o.epochs; ++e) {
    const float lr = 0.1f * std::pow(0.5f, float(e - 1)), mom = e <= 2 ? 0.2f : 0.8f;
    be.set_rates(lr, mom);
    EXPECT_FLOAT_EQ(float(trained.history[e].lr), lr);
    EXPECT_FLOAT_EQ(float(trained.history[e].momentum), mom);
    rbm::epoch_permutation(c.seed, e, order);
    for (int first = 0; first < n; first += o.batch) {
      const int rows = std::min(o.batch, n - first);
      batch.clear();
      for (int r = 0; r < rows; ++r) {
        const auto* row = d.train.pixels.data() + std::size_t(order[first + r]) * c.nv;
        batch.insert(batch.end(), row, row + c.nv);
      }
      rbm::train_on(be, rbm::rows_view::of(batch.data(), rows, c.nv));
    }
  }
  EXPECT_EQ(trained.params.w, be.params().w);
  EXPECT_EQ(trained.params.vb, be.params().vb);
  EXPECT_EQ(trained.params.hb, be.params().hb);
}

TEST(Training, EachEpochsOrderIsAPermutationOfItsOwn) {
  std::vector<int> a(700), b(700), c(700), again(700);
  rbm::epoch_permutation(17, 1, a);
  rbm::epoch_permutation(17, 2, b);
  rbm::epoch_permutation(18, 1, c);
  rbm::epoch_permutation(17, 1, again);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 700; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, again);  // determined by (seed, epoch) alone
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  int fixed = 0;
  for (int i = 0; i < 700; ++i) fixed += a[i] == i;
  EXPECT_LT(fixed, 10);  // shuffled, not the identity (a random permutation fixes ~1 element)
}

}  // namespace

namespace {

TEST(Training, BinarizeTrainsOnBinaryPixels) {
  // Every pixel is 100 (grey, below 128): binarised, the data are all zeros and the visible biases
  // start from log(0.001/0.999) and fall; as grey values they start at log-odds(100/255) = -0.44.
  rbm::dataset d;
  d.name = "flat";
  d.train.count = 200;
  d.train.rows = d.train.cols = 4;
  d.train.pixels.assign(200 * 16, 100);
  auto o = pcd_options(rbm_test::fresh_dir("binary").string());
  o.cd.pcd = false;
  o.cd.nh = 5;
  o.epochs = 2;
  o.binarize = true;
  const auto binary = rbm::train(d, o);
  o.binarize = false;
  o.out_dir = rbm_test::fresh_dir("grey").string();
  const auto grey = rbm::train(d, o);
  for (float b : binary.params.vb) EXPECT_LT(b, -5.0f);
  for (float b : grey.params.vb) EXPECT_GT(b, -1.5f);
}

// The training entry point prints nothing (stdout and stderr stay empty while it runs) and tells the
// caller everything through its callbacks: the backend line, every batch (with the running error on
// request), every epoch's metrics in order.
TEST(Training, TheLibraryPrintsNothingAndReportsThroughCallbacks) {
  const auto d = small_digits();
  const auto dir = rbm_test::fresh_dir();
  auto o = pcd_options((dir / "run").string());
  o.epochs = 2;
  std::vector<std::string> notes;
  std::vector<rbm::batch_report> batches;
  std::vector<double> batch_errors;
  std::vector<int> epochs;
  o.on_note = [&](const std::string& line) { notes.push_back(line); };
  o.on_batch = [&](const rbm::batch_report& b) {
    batches.push_back(b);
    if (b.batch == b.batches) batch_errors.push_back(b.error());
  };
  o.on_epoch = [&](const rbm::epoch_metrics& m, int total) {
    EXPECT_EQ(total, 2);
    epochs.push_back(m.epoch);
  };
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = dup(1), saved_err = dup(2);
  const int sink = ::open((dir / "printed").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(sink, 1);
  dup2(sink, 2);
  rbm::train_result r;
  try {
    r = rbm::train(d, o);
  } catch (...) {
    dup2(saved_out, 1), dup2(saved_err, 2);
    throw;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  ::close(sink);
  EXPECT_EQ(fs::file_size(dir / "printed"), 0u) << "the library printed something";
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("using the CPU backend"), std::string::npos) << notes[0];
  EXPECT_EQ(epochs, (std::vector<int>{1, 2}));
  ASSERT_EQ(batches.size(), 2u * 11);  // 700 = 10 x 64 + 60: 11 batches an epoch
  EXPECT_EQ(batches.front().batch, 1);
  EXPECT_EQ(batches.back().epoch, 2);
  EXPECT_EQ(batches.back().batches, 11);
  ASSERT_EQ(batch_errors.size(), 2u);
  ASSERT_EQ(r.history.size(), 3u);
  for (int e = 0; e < 2; ++e)  // the epoch's running error, close to its evaluated sampled error after it
    EXPECT_NEAR(batch_errors[e], r.history[e + 1].train.err_sampled, 0.03) << "epoch " << e + 1;
}

}  // namespace

namespace {

// The entry point a binding calls: no out_dir, nothing written, the same model as a run with files;
// continuing from its parameters and state in memory carries the momentum, the PCD chains and the
// generator on; a stop request hands back the last update's parameters.
TEST(InMemory, TrainsWithoutFilesAndContinuesFromItsState) {
  const auto d = small_digits();
  const auto dir = rbm_test::fresh_dir("in-memory");
  auto o = pcd_options((dir / "files").string());
  o.epochs = 2;
  const auto with_files = rbm::train(d, o);
  o.out_dir.clear();
  const fs::path cwd = fs::current_path(), empty = dir / "cwd";
  fs::create_directories(empty);
  fs::current_path(empty);  // each test runs in its own process (gtest_discover_tests)
  const auto mem = rbm::train(d, o);
  fs::current_path(cwd);
  EXPECT_TRUE(fs::is_empty(empty)) << "an in-memory run wrote into the working directory";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);  // files/ and cwd/ only
  EXPECT_EQ(mem.params.w, with_files.params.w);
  EXPECT_EQ(mem.params.vb, with_files.params.vb);
  EXPECT_EQ(mem.params.hb, with_files.params.hb);
  ASSERT_EQ(mem.history.size(), 3u);
  EXPECT_EQ(mem.history.back().train.err_sampled, with_files.history.back().train.err_sampled);

  // One epoch at a time from memory: the state goes on (the generator one epoch further, the chains
  // and momentum as the first epoch left them), unlike a restart from the parameters alone.
  auto one = pcd_options("");
  one.epochs = 1;
  const auto first = rbm::train(d, one);
  ASSERT_GT(first.state.rng_position, 0u);
  ASSERT_EQ(first.state.chains, 64);
  auto next = one;
  next.start_params = &first.params;
  next.start_state = &first.state;
  const auto second = rbm::train(d, next);
  EXPECT_EQ(second.state.rng_position, 2 * first.state.rng_position);
  auto restart = one;
  restart.start_params = &first.params;
  const auto fresh = rbm::train(d, restart);
  EXPECT_EQ(fresh.state.rng_position, first.state.rng_position);  // drew the first epoch's numbers again
  EXPECT_NE(second.params.w, fresh.params.w);
  EXPECT_NE(second.params.w, first.params.w);

  // A stop request in memory: `interrupted` with no directory and the parameters of the last update.
  std::atomic<bool> stop{true};
  auto stopped = one;
  stopped.stop = &stop;
  try {
    rbm::train(d, stopped);
    FAIL() << "a stop request must interrupt training";
  } catch (const rbm::interrupted& e) {
    EXPECT_TRUE(e.directory().empty());
    EXPECT_EQ(e.params().nv, 784);
    EXPECT_EQ(e.params().nh, 30);
    rbm::cd_config c = one.cd;
    c.nv = 784;
    EXPECT_EQ(e.state().rng_position, rbm::make_draw_layout(64, c).total());  // exactly one batch's draws
  }
  // Parameters that do not fit the data are refused by name.
  rbm::model_params wrong(100, 30);
  auto bad = one;
  bad.start_params = &wrong;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, bad); }).find("start_params"), std::string::npos);
}

// Real values held by the caller (a NumPy array through the binding) train as the same values owned
// by the data set, standardised or not, and are never written to.
TEST(InMemory, BorrowedValuesTrainAsOwnedOnesAndStayUnchanged) {
  auto d = small_digits();
  rbm::dataset owned;
  owned.name = "values";
  for (auto* set : {&owned.train, &owned.test}) set->count = 0;
  owned.train.count = d.train.count;
  owned.train.rows = 28;
  owned.train.cols = 28;
  owned.train.source = "X";
  for (std::uint8_t px : d.train.pixels) owned.train.values.push_back(rbm::pixel_to_unit(px));
  const std::vector<float> copy = owned.train.values;
  rbm::dataset borrowed = owned;
  borrowed.train.values.clear();
  borrowed.train.borrowed = copy.data();
  for (const bool gaussian : {false, true}) {
    auto o = pcd_options("");
    o.epochs = 2;
    if (gaussian) {
      o.cd.visible = rbm::unit_kind::gaussian;
      o.cd.lr = 0.01f;
      o.standardize = true;
    }
    const auto a = rbm::train(owned, o), b = rbm::train(borrowed, o);
    EXPECT_EQ(a.params.w, b.params.w) << (gaussian ? "gaussian" : "bernoulli");
    EXPECT_EQ(a.params.vb, b.params.vb);
    EXPECT_EQ(a.data_mean, b.data_mean);
    EXPECT_EQ(a.data_sd, b.data_sd);
    EXPECT_EQ(a.history.back().train.err_sampled, b.history.back().train.err_sampled);
    EXPECT_EQ(b.data_mean.size(), gaussian ? 784u : 0u);
  }
  EXPECT_EQ(copy, owned.train.values) << "standardisation wrote into the caller's values";
}

// The parameters after each epoch reach on_epoch_params: those after epoch e are the result of an
// e-epoch run.
TEST(InMemory, EachEpochsParametersReachTheCallback) {
  const auto d = small_digits();
  auto o = pcd_options("");
  o.epochs = 3;
  std::vector<rbm::model_params> seen;
  std::vector<int> epochs;
  o.on_epoch_params = [&](const rbm::epoch_metrics& m, const rbm::model_params& p) {
    epochs.push_back(m.epoch);
    seen.push_back(p);
  };
  const auto r = rbm::train(d, o);
  ASSERT_EQ(epochs, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(seen.back().w, r.params.w);
  auto two = pcd_options("");
  two.epochs = 2;
  EXPECT_EQ(rbm::train(d, two).params.w, seen[1].w);
}

// A model far beyond the machine's memory is refused before anything is allocated, naming the bytes.
TEST(InMemory, AModelBeyondTheMachinesMemoryIsRefusedNamingTheBytes) {
  rbm::dataset d;
  d.name = "values";
  d.train.count = 100000;  // one feature: 100,000 x 2^30 hidden units per batch is ~800 TiB
  d.train.rows = 1;
  d.train.cols = 1;
  d.train.values.assign(100000, 0.5f);
  auto o = pcd_options("");
  o.cd.nh = 1 << 30;
  o.batch = 100000;
  o.device = "cpu";
  try {
    rbm::train(d, o);
    FAIL() << "a model beyond memory must be refused";
  } catch (const rbm::host_out_of_memory& e) {
    EXPECT_NE(std::string(e.what()).find("1x1073741824 model with batch 100000 needs at least"), std::string::npos)
        << e.what();
    EXPECT_GT(e.requested(), std::size_t(1) << 49);
  }
}

// Rows in GPU memory are read by the CUDA backend alone: the CPU backend refuses them, saying so, and
// the options that need host rows (binarize, pixels held out) are refused by name before anything runs.
TEST(InMemory, RowsInGpuMemoryAreRefusedByTheCpuBackend) {
  rbm::dataset d;
  d.name = "values";
  d.train.count = 10;
  d.train.rows = 1;
  d.train.cols = 4;
  d.train.source = "X";
  const std::vector<float> fake(40, 0.5f);
  d.train.device_values = fake.data();
  auto o = pcd_options("");
  o.device = "cpu";
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("GPU memory need the CUDA backend"), std::string::npos);
  o.out_dir = "somewhere";  // allowed (a stack's layer on the GPU writes its files), but nothing is created
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("GPU memory need the CUDA backend"), std::string::npos);
  EXPECT_FALSE(fs::exists("somewhere"));
  o.binarize = true;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("read as they are, on the CUDA backend: no binarize"),
            std::string::npos);
  o.binarize = false;
  d.test.count = 2;  // held-out rows must be host values
  d.test.rows = 1;
  d.test.cols = 4;
  d.test.pixels.assign(8, 0);
  EXPECT_NE(rbm_test::error_of([&] { rbm::train(d, o); }).find("the held-out rows are real values in host memory"),
            std::string::npos);
  EXPECT_FALSE(fs::exists("somewhere"));
}

}  // namespace
