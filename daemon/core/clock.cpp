// real_clock(): the standard clocks and a PRNG behind one lock (jitter is drawn on
// the loop thread; the lock only keeps a second engine in the process safe).
// ManualClock: atomics, since fake servers read it from their threads.
#include "core/clock.h"

#include <mutex>
#include <random>

namespace ferry::core {

namespace {

class RealClock final : public Clock {
 public:
  Steady::time_point now() const override { return Steady::now(); }
  Wall::time_point wall() const override { return Wall::now(); }
  bool skip_to(Steady::time_point) override { return false; }
  std::chrono::milliseconds longest_wait() const override { return std::chrono::milliseconds(1000); }
  int64_t uniform(int64_t lo, int64_t hi) override {
    std::lock_guard lock(mu_);
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

 private:
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::shared_ptr<Clock> real_clock() {
  static const std::shared_ptr<Clock> clock = std::make_shared<RealClock>();
  return clock;
}

ManualClock::ManualClock(Wall::time_point wall_start) : wall_start_(wall_start) {}

Clock::Steady::time_point ManualClock::now() const {
  return Steady::time_point{std::chrono::duration_cast<Steady::duration>(std::chrono::nanoseconds(ns_.load()))};
}

Clock::Wall::time_point ManualClock::wall() const {
  return wall_start_ + std::chrono::duration_cast<Wall::duration>(elapsed());
}

bool ManualClock::skip_to(Steady::time_point when) {
  const int64_t target = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  int64_t cur = ns_.load();
  while (cur < target) {
    if (ns_.compare_exchange_weak(cur, target)) {
      skips_.fetch_add(1);
      break;
    }
  }
  return true;  // never waits: a timer already due runs on the next pass
}

int64_t ManualClock::uniform(int64_t lo, int64_t hi) { return lo + (hi - lo) * jitter_.load() / 1000; }

void ManualClock::advance(std::chrono::nanoseconds by) { ns_.fetch_add(by.count()); }

std::chrono::nanoseconds ManualClock::elapsed() const { return std::chrono::nanoseconds(ns_.load() - kStart); }

}  // namespace ferry::core
