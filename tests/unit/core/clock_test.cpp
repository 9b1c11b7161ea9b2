// core::ManualClock: moves only when told, never backwards, and draws its jitter
// deterministically; core::real_clock(): one shared clock whose jitter stays in range.
#include "core/clock.h"

#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;
using ferry::core::Clock;
using ferry::core::ManualClock;

TEST(ManualClock, StandsStillUntilAdvanced) {
  ManualClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall();
  EXPECT_GT(t0.time_since_epoch(), 0s);  // never the epoch: "unset" stays distinguishable
  EXPECT_EQ(clock.now(), t0);
  clock.advance(1500ms);
  EXPECT_EQ(clock.now() - t0, 1500ms);
  EXPECT_EQ(clock.wall() - w0, 1500ms);  // calendar time moves with it
  EXPECT_EQ(clock.elapsed(), 1500ms);
}

TEST(ManualClock, SkipToMovesForwardOnlyAndCountsRealMoves) {
  ManualClock clock;
  const auto t0 = clock.now();
  EXPECT_TRUE(clock.skip_to(t0 + 10s));
  EXPECT_EQ(clock.now(), t0 + 10s);
  EXPECT_EQ(clock.skips(), 1u);
  EXPECT_TRUE(clock.skip_to(t0 + 3s));  // already past: no move, the timer is due
  EXPECT_EQ(clock.now(), t0 + 10s);
  EXPECT_EQ(clock.skips(), 1u);
}

TEST(ManualClock, WallStartsWhereTold) {
  const auto start = Clock::Wall::time_point{} + 24h * 365 * 50;
  ManualClock clock(start);
  EXPECT_EQ(clock.wall(), start);
}

TEST(ManualClock, JitterIsDeterministic) {
  ManualClock clock;
  EXPECT_EQ(clock.uniform(100, 200), 200);  // default: the ceiling
  clock.set_jitter_per_mille(0);
  EXPECT_EQ(clock.uniform(100, 200), 100);
  clock.set_jitter_per_mille(500);
  EXPECT_EQ(clock.uniform(100, 200), 150);
  EXPECT_EQ(clock.uniform(7, 7), 7);
}

TEST(RealClock, IsSharedNeverSkipsAndDrawsInRange) {
  auto a = ferry::core::real_clock();
  EXPECT_EQ(a, ferry::core::real_clock());
  EXPECT_FALSE(a->skip_to(a->now() + 1h));  // a real clock makes the loop wait
  bool low = false, high = false;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = a->uniform(10, 12);
    ASSERT_GE(v, 10);
    ASSERT_LE(v, 12);
    low = low || v == 10;
    high = high || v == 12;
  }
  EXPECT_TRUE(low && high);  // both ends drawn (misses with odds of about (2/3)^2000)
}
