// core::Executor: lanes keep order and run one task at a time, drop() forgets the
// queued and waits for the running, parallel_for takes every index once and does
// not wait for pool threads that are busy elsewhere, the destructor runs the queue.
// (Run under TSan too: a lane's tasks share state without locks of their own.)
#include "core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <numeric>
#include <vector>

namespace ferry::core {
namespace {

TEST(Executor, ALaneRunsItsTasksInOrderOneAtATime) {
  Executor pool(4);
  std::vector<int> order;  // no lock: the lane's tasks never overlap
  std::atomic<int> active{0}, most{0};
  std::promise<void> all_done;
  {
    Executor::Lane lane(pool);
    for (int k = 0; k < 200; ++k) {
      lane.post([&, k] {
        most = std::max(most.load(), ++active);
        order.push_back(k);
        --active;
        if (k == 199) all_done.set_value();
      });
    }
    all_done.get_future().wait();
  }
  std::vector<int> want(200);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(order, want);
  EXPECT_EQ(most.load(), 1);
}

TEST(Executor, DropForgetsTheQueuedTasksAndWaitsForTheRunningOne) {
  Executor pool(2);
  Executor::Lane lane(pool);
  std::promise<void> started, release;
  auto release_future = release.get_future().share();
  std::atomic<bool> first_finished{false};
  std::atomic<int> later_ran{0};
  lane.post([&] {
    started.set_value();
    release_future.wait();
    first_finished = true;
  });
  for (int k = 0; k < 3; ++k) lane.post([&] { ++later_ran; });
  started.get_future().wait();
  std::atomic<bool> dropping{false};
  std::thread releaser([&] {
    while (!dropping) std::this_thread::yield();
    release.set_value();
  });
  dropping = true;
  auto dropped = lane.drop();
  EXPECT_TRUE(first_finished.load()) << "drop() returned while a task still ran";
  releaser.join();
  EXPECT_EQ(dropped.size(), 3u);
  EXPECT_EQ(later_ran.load(), 0);
  lane.post([&] { ++later_ran; });  // the lane goes on after a drop
}

TEST(Executor, ParallelForTakesEveryIndexOnceEvenWhenThePoolIsBusy) {
  std::promise<void> release;  // before the pool: its threads are joined while it lives
  auto blocked = release.get_future().share();
  std::atomic<int> waiting{0};
  Executor pool(3);
  std::vector<std::atomic<int>> seen(1000);
  pool.parallel_for(seen.size(), [&](size_t i) { ++seen[i]; });
  for (const auto& s : seen) EXPECT_EQ(s.load(), 1);

  // Every pool thread blocked: the caller does all the work and returns.
  for (int k = 0; k < 3; ++k) {
    pool.post([&] {
      ++waiting;
      blocked.wait();
    });
  }
  while (waiting < 3) std::this_thread::yield();
  int sum = 0;  // the caller's thread alone: no lock needed
  pool.parallel_for(10, [&](size_t i) { sum += static_cast<int>(i); });
  EXPECT_EQ(sum, 45);
  release.set_value();
}

TEST(Executor, TheDestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    Executor pool(1);
    for (int k = 0; k < 50; ++k) pool.post([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace ferry::core
