// The CPU backend's fork-join team; see thread_team.hpp. The fast path takes no lock: the caller
// publishes the job and a new generation number, spinning workers pick it up and count themselves
// out. The mutex and condition variable serve only workers that have gone to sleep, and errors.
#include "rbm/host/thread_team.hpp"

#include <chrono>

#include "rbm/error.hpp"

namespace rbm::cpu {
namespace {

constexpr auto spin_for = std::chrono::microseconds(50);

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins while done() is false, for at most spin_for (the clock read every 64 turns); true if done.
template <typename Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + spin_for;
  for (unsigned turn = 1;; ++turn) {
    if (done()) return true;
    relax();
    if (turn % 64 == 0 && std::chrono::steady_clock::now() >= until) return done();
  }
}

}  // namespace

thread_team::thread_team(int threads) {
  RBM_EXPECTS(threads >= 1);
  workers_.reserve(std::size_t(threads - 1));
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
}

thread_team::~thread_team() {
  stop_.store(true);
  publish();
  for (auto& w : workers_) w.join();
}

void thread_team::publish() {
  published_.fetch_add(1);  // seq_cst, paired with the sleepers_ check in work()
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }  // a worker between its check and its wait gets there first
    wake_.notify_all();
  }
}

void thread_team::finish(std::exception_ptr e) {
  if (e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = e;
  }
  pending_.fetch_sub(1, std::memory_order_acq_rel);
}

void thread_team::run(const std::function<void(int)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  job_.store(&fn, std::memory_order_relaxed);
  pending_.store(size(), std::memory_order_relaxed);
  publish();
  std::exception_ptr mine;
  try {
    fn(0);
  } catch (...) {
    mine = std::current_exception();
  }
  finish(mine);
  auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(all_done))
    while (!all_done()) std::this_thread::yield();  // a worker that was asleep, or more threads than cores
  std::exception_ptr e;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::swap(e, error_);
  }
  if (e) std::rethrow_exception(e);
}

void thread_team::work(int t) {
  unsigned seen = 0;  // the generation at construction: a run() may come before this thread starts
  for (;;) {
    // Spin briefly for the next phase, then sleep until it is published.
    if (!spin_until([&] { return published_.load(std::memory_order_acquire) != seen; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);  // seq_cst: publish() sees it, or this thread sees the new generation
      wake_.wait(lock, [&] { return published_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = published_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    std::exception_ptr e;
    try {
      (*job_.load(std::memory_order_relaxed))(t);
    } catch (...) {
      e = std::current_exception();
    }
    finish(e);
  }
}

void run_parts(thread_team* team, int parts, const std::function<void(int)>& fn) {
  if (parts <= 1) {
    fn(0);
    return;
  }
  RBM_EXPECTS(team != nullptr && parts <= team->size());
  team->run([&](int t) {
    if (t < parts) fn(t);
  });
}

}  // namespace rbm::cpu
