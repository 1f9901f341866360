// Interrupted runs: SIGINT/SIGTERM finish the batch, write a checkpoint and say how to resume; SIGKILL at
// random moments never leaves a broken checkpoint; and resuming after either ends with exactly the
// model of a run that was never interrupted.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"

extern char** environ;
namespace fs = std::filesystem;

namespace {

const std::string common =
    " --device cpu --quiet --train-limit 3000 --test-limit 300 --hidden 300 --k 2 --pcd --epochs 8 --seed 5";
const std::string resume_data = " --device cpu --quiet --train-limit 3000 --test-limit 300";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Starts `rbm args` with its output in `log`; returns the pid.
pid_t start(const std::string& args, const fs::path& log) {
  std::vector<std::string> words = split(std::string(RBM_EXE) + " " + args);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Waits for the process; returns its exit code, or 128 + signal.
int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct reference_run {
  rbm::model_params params;
  double seconds = 0;  // how long an uninterrupted run takes on this machine
};

// The uninterrupted run, once per test process, in a directory of this process's own (ctest -j runs
// the tests of this file in parallel processes).
const reference_run& uninterrupted() {
  static const reference_run r = [] {
    const auto dir = fs::path(RBM_TEST_TMP) / ("interrupt-reference-" + std::to_string(getpid()));
    fs::remove_all(dir);
    const auto t0 = std::chrono::steady_clock::now();
    const int code = wait_for(start("train" + common + " --out " + (dir / "run").string(), dir.string() + ".log"));
    EXPECT_EQ(code, 0) << read_text(dir.string() + ".log");
    reference_run run{rbm::load_model((dir / "run" / "model.safetensors").string()).params,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    fs::remove_all(dir);
    return run;
  }();
  return r;
}


// The resumed model equals the uninterrupted one in every tensor.
void expect_same_model(const fs::path& model, const rbm::model_params& reference, const std::string& context) {
  const auto p = rbm::load_model(model.string()).params;
  EXPECT_EQ(p.w, reference.w) << context;
  EXPECT_EQ(p.vb, reference.vb) << context;
  EXPECT_EQ(p.hb, reference.hb) << context;
}

TEST(Interrupt, SigintWritesACheckpointAndResumingMatchesAnUninterruptedRun) {
  const auto& reference = uninterrupted().params;
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "run";
  const pid_t pid = start("train" + common + " --out " + out.string(), dir / "log");
  // Interrupt during the second epoch: once metrics.csv has the rows of epochs 0 and 1.
  for (int i = 0; i < 2000 && rbm_test::count_lines(out / "metrics.csv") < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  const int code = wait_for(pid);
  const std::string log = read_text(dir / "log");
  ASSERT_EQ(code, 130) << "the run was not interrupted (too fast?): " << log;
  EXPECT_NE(log.find("rbm train --resume " + out.string()), std::string::npos) << log;
  ASSERT_NO_THROW(rbm::load_model((out / "model.safetensors").string()));

  const int resumed = wait_for(start("train --resume " + out.string() + resume_data, dir / "log2"));
  ASSERT_EQ(resumed, 0) << read_text(dir / "log2");
  expect_same_model(out / "model.safetensors", reference, "after SIGINT and --resume");
}

// The kill moments are random (a fresh seed each run, so repeated runs explore), logged, and
// reproducible: RBM_KILL_SEED=<seed> replays the delays a failed run printed.
TEST(Interrupt, SigkillAtRandomMomentsNeverBreaksTheCheckpoint) {
  const auto& ref = uninterrupted();
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "run";
  const char* given = std::getenv("RBM_KILL_SEED");
  const unsigned seed = given != nullptr ? unsigned(std::stoul(given)) : std::random_device{}();
  std::mt19937 rng(seed);
  // Random moments within what an uninterrupted run takes here: early, mid-epoch, mid-checkpoint...
  // (Shortened whenever a run finished before its kill: the reference may have run on a busier machine.)
  double scale = 1.0;
  auto delay_ms = [&](std::mt19937& g) {
    return std::uniform_int_distribution<int>(int(100 * ref.seconds * scale), int(900 * ref.seconds * scale))(g);
  };
  std::string args = "train" + common + " --out " + out.string();
  std::string delays;
  int kills = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const pid_t pid = start(args, dir / "log");
    if (kills < 4) {
      const int ms = delay_ms(rng);
      delays += (delays.empty() ? "" : ", ") + std::to_string(ms) + " ms";
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      kill(pid, SIGKILL);
    }
    const int code = wait_for(pid);
    if (code == 0 && kills == 0 && attempt + 1 < 12) {  // done before the kill came: start over, sooner
      fs::remove_all(out);
      scale /= 2;
      continue;
    }
    if (code == 0) break;
    ASSERT_EQ(code, 128 + SIGKILL) << read_text(dir / "log");
    ++kills;
    if (!fs::exists(out / "model.safetensors")) continue;  // killed before the first checkpoint: start over
    // Whatever moment the kill came, the checkpoint is complete and consistent; no temporary file remains
    // that a later run could mistake for it.
    ASSERT_NO_THROW(rbm::load_model((out / "model.safetensors").string()))
        << "after kill " << kills << "; RBM_KILL_SEED=" << seed << " (delays " << delays << ")";
    args = "train --resume " + out.string() + resume_data;
  }
  const std::string replay = "RBM_KILL_SEED=" + std::to_string(seed) + " (kill delays " + delays + ")";
  std::printf("kill delays: %s\n", replay.c_str());
  RecordProperty("kill_seed", std::to_string(seed));
  RecordProperty("kill_delays", delays);
  EXPECT_GE(kills, 1) << replay;
  expect_same_model(out / "model.safetensors", ref.params, "after " + std::to_string(kills) + " kills; " + replay);
}

TEST(Interrupt, DamagedCheckpointsAreRefused) {
  const auto dir = rbm_test::fresh_dir();
  ASSERT_EQ(wait_for(start("train --device cpu --quiet --train-limit 300 --test-limit 50 --hidden 10 --epochs 1 --out " +
                           (dir / "run").string(), dir / "log")), 0);
  auto bytes = rbm_test::read_bytes(dir / "run" / "model.safetensors");
  auto flipped = bytes;
  flipped[flipped.size() - 5] ^= 0x40;  // one bit of one bias
  rbm_test::write_bytes(dir / "flipped.safetensors", flipped);
  try {
    rbm::load_model((dir / "flipped.safetensors").string());
    FAIL() << "a flipped bit was not noticed";
  } catch (const rbm::data_error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  bytes.resize(bytes.size() - 100);
  rbm_test::write_bytes(dir / "cut.safetensors", bytes);
  EXPECT_THROW(rbm::load_model((dir / "cut.safetensors").string()), rbm::data_error);
}

}  // namespace
