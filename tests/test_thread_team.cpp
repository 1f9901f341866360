// The CPU backend's fork-join team: every part runs exactly once per run(), back-to-back runs and runs
// after the workers have gone to sleep, more threads than cores, and errors thrown by any part.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/thread_team.hpp"

namespace {

TEST(ThreadTeam, EveryPartRunsOncePerRunBackToBack) {
  for (int threads : {1, 2, 3, 5}) {
    rbm::cpu::thread_team team(threads);
    ASSERT_EQ(team.size(), threads);
    std::vector<int> count(threads, 0);  // each part writes only its own slot
    const int runs = 5000;
    for (int r = 0; r < runs; ++r) team.run([&](int t) { ++count[t]; });
    for (int t = 0; t < threads; ++t) EXPECT_EQ(count[t], runs) << threads << " threads, part " << t;
  }
}

TEST(ThreadTeam, WakesWorkersThatWentToSleep) {
  rbm::cpu::thread_team team(3);
  std::atomic<int> sum{0};
  for (int r = 0; r < 5; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // far past the spinning time
    team.run([&](int t) { sum += t + 1; });
  }
  EXPECT_EQ(sum.load(), 5 * (1 + 2 + 3));
}

TEST(ThreadTeam, ResultsOfAllPartsAreVisibleAfterRun) {
  rbm::cpu::thread_team team(4);
  std::vector<double> data(1 << 16, 0.0);
  for (int r = 1; r <= 50; ++r) {
    team.run([&](int t) {
      const auto [b, e] = rbm::cpu::split(data.size(), team.size(), t);
      for (std::size_t i = b; i < e; ++i) data[i] += 1.0;
    });
    double s = 0;
    for (double x : data) s += x;
    ASSERT_EQ(s, double(r) * data.size());
  }
}

TEST(ThreadTeam, RethrowsAPartsErrorAndStaysUsable) {
  rbm::cpu::thread_team team(3);
  for (int bad : {0, 2}) {
    std::atomic<int> done{0};
    EXPECT_THROW(team.run([&](int t) {
      ++done;
      if (t == bad) throw std::runtime_error("part failed");
    }),
                 std::runtime_error);
    EXPECT_EQ(done.load(), 3);  // the other parts still ran to the end
  }
  std::atomic<int> after{0};
  team.run([&](int) { ++after; });
  EXPECT_EQ(after.load(), 3);
}

TEST(ThreadTeam, RunPartsRunsEachOfFewerPartsOnceAndOnePartOnTheCaller) {
  rbm::cpu::thread_team team(4);
  std::vector<std::atomic<int>> count(4);
  rbm::cpu::run_parts(&team, 3, [&](int t) { count[t]++; });
  EXPECT_EQ(count[0], 1);
  EXPECT_EQ(count[1], 1);
  EXPECT_EQ(count[2], 1);
  EXPECT_EQ(count[3], 0);  // the team's fourth thread has no part
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  rbm::cpu::run_parts(nullptr, 1, [&](int t) {
    EXPECT_EQ(t, 0);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(ran_on, caller);
  EXPECT_THROW(rbm::cpu::run_parts(&team, 5, [](int) {}), rbm::precondition_error);
}

TEST(ThreadTeam, SplitCoversTheRangeInOrder) {
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(1000)})
    for (int parts : {1, 2, 3, 8}) {
      std::size_t next = 0;
      for (int t = 0; t < parts; ++t) {
        const auto [b, e] = rbm::cpu::split(n, parts, t);
        EXPECT_EQ(b, next);
        EXPECT_LE(e - b, n / parts + 1);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

}  // namespace
