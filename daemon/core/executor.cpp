#include "core/executor.h"

#include <algorithm>
#include <atomic>
#include <utility>

namespace ferry::core {

Executor::Executor(unsigned threads) : size_(std::max(threads, 1u)) {}

Executor::~Executor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : pool_) t.join();
}

void Executor::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(task));
    if (pool_.size() < size_ && pool_.size() < queue_.size()) pool_.emplace_back([this] { work(); });
  }
  wake_.notify_one();
}

void Executor::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // what it captured goes here, outside the lock
    lock.lock();
  }
}

void Executor::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  struct Shared {
    std::atomic<size_t> next{0};
    size_t completed = 0;  // guarded by mu
    std::mutex mu;
    std::condition_variable done;
  };
  auto shared = std::make_shared<Shared>();
  // A helper the pool starts late (its threads busy) finds every index taken and
  // ends without touching fn: the caller waits for the indexes, not for helpers.
  auto take = [shared, &fn, n] {
    for (size_t i; (i = shared->next.fetch_add(1)) < n;) {
      fn(i);
      std::lock_guard lock(shared->mu);
      if (++shared->completed == n) shared->done.notify_all();
    }
  };
  for (size_t h = 1; h < std::min<size_t>(n, size_); ++h) post(take);
  take();
  std::unique_lock lock(shared->mu);
  shared->done.wait(lock, [&] { return shared->completed == n; });
}

Executor::Lane::~Lane() {
  std::deque<std::function<void()>> dropped;
  std::unique_lock lock(mu_);
  dropped.swap(queue_);
  // A run_one() still queued on the pool finds the lane empty and ends; wait for it
  // too, so nothing on the pool refers to this lane once it is gone.
  idle_.wait(lock, [this] { return !running_ && !scheduled_; });
}

void Executor::Lane::post(std::function<void()> task) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(task));
    if (!scheduled_) schedule = scheduled_ = true;
  }
  if (schedule) ex_.post([this] { run_one(); });
}

void Executor::Lane::run_one() {
  std::function<void()> task;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      scheduled_ = false;
      idle_.notify_all();
      return;
    }
    task = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
  }
  task();
  task = nullptr;
  bool again = false;
  {
    std::lock_guard lock(mu_);
    running_ = false;
    again = !queue_.empty();
    if (!again) scheduled_ = false;
    idle_.notify_all();
  }
  // One task per pool turn: other work queued meanwhile is not starved by a long lane.
  if (again) ex_.post([this] { run_one(); });
}

std::deque<std::function<void()>> Executor::Lane::drop() {
  std::deque<std::function<void()>> dropped;
  std::unique_lock lock(mu_);
  dropped.swap(queue_);
  idle_.wait(lock, [this] { return !running_; });
  return dropped;
}

}  // namespace ferry::core
