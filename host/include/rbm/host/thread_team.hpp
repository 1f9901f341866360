// A fixed team of threads for the CPU backend's fork-join phases: run(fn) calls fn(t) for every
// t in [0, size()), t = 0 on the calling thread, and returns when all have finished. Idle workers spin
// for a few tens of microseconds (the next phase of an update usually follows at once) and then sleep,
// so they do not hold a core while OpenBLAS or the rest of the program needs it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace rbm::cpu {

class thread_team {
 public:
  explicit thread_team(int threads);  // threads >= 1; threads - 1 workers are started
  ~thread_team();
  thread_team(const thread_team&) = delete;
  thread_team& operator=(const thread_team&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  // The first exception thrown by any fn(t) is rethrown here, after all have finished.
  void run(const std::function<void(int)>& fn);

 private:
  void work(int t);
  void publish();  // a new generation: wakes sleeping workers
  void finish(std::exception_ptr e);

  std::vector<std::thread> workers_;
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  alignas(64) std::atomic<unsigned> published_{0};  // generation: one per run(), and one to stop
  alignas(64) std::atomic<int> pending_{0};         // threads still working on the current job
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // for sleeping workers and error_
  std::condition_variable wake_;
  std::exception_ptr error_;
};

// fn(t) for every part t in [0, parts): on the team's threads when there is more than one part
// (parts <= team->size()), else on the calling thread alone (`team` may then be null).
void run_parts(thread_team* team, int parts, const std::function<void(int)>& fn);

// [begin, end) of part t of n items split into `parts` contiguous, nearly equal pieces.
inline std::pair<std::size_t, std::size_t> split(std::size_t n, int parts, int t) {
  return {n * std::size_t(t) / std::size_t(parts), n * std::size_t(t + 1) / std::size_t(parts)};
}

}  // namespace rbm::cpu
