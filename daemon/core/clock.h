// Clock: where the event loop and the code on it read the time and draw their
// jitter, so that tests can assert delays without sleeping.
//
// The one idea: everything that schedules or measures on the loop thread (engine
// timers, retry backoff and its jitter, Retry-After pauses, blob time caps, token
// expiry, run deadlines) asks the engine's Clock instead of std::chrono directly.
// real_clock() is the steady and system clocks and a seeded PRNG. A ManualClock
// stands still until a test moves it, or until the engine has nothing left to wait
// for but a timer: then skip_to() jumps to that timer at once. Time never moves
// while a transfer or an offloaded work is pending, so what a test sees is
// "I/O takes no time, timers fire in order at their exact instants".
// Thread-safe: fake servers read now() from their own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace ferry::core {

class Clock {
 public:
  using Steady = std::chrono::steady_clock;
  using Wall = std::chrono::system_clock;

  virtual ~Clock() = default;
  virtual Steady::time_point now() const = 0;
  // Calendar time (token expiry, Retry-After dates, report stamps).
  virtual Wall::time_point wall() const = 0;
  // The loop has nothing to wait for but a timer due at `when`: true when the clock
  // moved there (the loop runs the timer without waiting), false when the loop must
  // really wait (a real clock).
  virtual bool skip_to(Steady::time_point when) = 0;
  // Jitter: a uniformly drawn integer in [lo, hi] (lo <= hi).
  virtual int64_t uniform(int64_t lo, int64_t hi) = 0;
  // The longest the loop waits for I/O before it looks at the clock again: a
  // second for a real clock; a few milliseconds for a manual one, which a test
  // (or a fake server's thread) may move at any moment.
  virtual std::chrono::milliseconds longest_wait() const = 0;
};

// The process's clock: steady_clock, system_clock, a PRNG seeded from the OS.
std::shared_ptr<Clock> real_clock();

class ManualClock final : public Clock {
 public:
  // Starts at a steady time point of 1000 s (never the epoch, so "unset" time
  // points stay distinguishable) and at `wall_start` in calendar time.
  explicit ManualClock(Wall::time_point wall_start = Wall::time_point{} + std::chrono::hours(24 * 365 * 56));

  Steady::time_point now() const override;
  Wall::time_point wall() const override;
  bool skip_to(Steady::time_point when) override;
  // Jitter draws `lo + (hi - lo) * jitter_per_mille / 1000`: deterministic; the
  // default (1000) always draws the ceiling.
  int64_t uniform(int64_t lo, int64_t hi) override;
  std::chrono::milliseconds longest_wait() const override { return std::chrono::milliseconds(5); }

  void advance(std::chrono::nanoseconds by);
  void set_jitter_per_mille(int per_mille) { jitter_.store(per_mille); }
  // How far the clock has moved since it was made.
  std::chrono::nanoseconds elapsed() const;
  // How many times skip_to() moved the clock forward.
  uint64_t skips() const { return skips_.load(); }

 private:
  static constexpr int64_t kStart = 1'000'000'000'000;  // 1000 s, in ns
  std::atomic<int64_t> ns_{kStart};
  Wall::time_point wall_start_;
  std::atomic<int> jitter_{1000};
  std::atomic<uint64_t> skips_{0};
};

}  // namespace ferry::core
