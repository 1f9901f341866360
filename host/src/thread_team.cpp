// The CPU backend's fork-join team; see thread_team.hpp.
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

}  // namespace

thread_team::thread_team(int threads) {
  RBM_EXPECTS(threads >= 1);
  workers_.reserve(std::size_t(threads - 1));
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
}

thread_team::~thread_team() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
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
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    error_ = nullptr;
    pending_.store(size(), std::memory_order_relaxed);
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  std::exception_ptr mine;
  try {
    fn(0);
  } catch (...) {
    mine = std::current_exception();
  }
  finish(mine);
  const auto until = std::chrono::steady_clock::now() + spin_for;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (std::chrono::steady_clock::now() < until)
      relax();
    else
      std::this_thread::yield();  // a worker that was asleep, or more threads than cores
  }
  std::lock_guard<std::mutex> lock(mutex_);
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void thread_team::work(int t) {
  unsigned seen = 0;
  for (;;) {
    // Spin briefly for the next phase, then sleep until it is published.
    const auto until = std::chrono::steady_clock::now() + spin_for;
    while (published_.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < until) relax();
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      job = job_;
    }
    std::exception_ptr e;
    try {
      (*job)(t);
    } catch (...) {
      e = std::current_exception();
    }
    finish(e);
  }
}

}  // namespace rbm::cpu
