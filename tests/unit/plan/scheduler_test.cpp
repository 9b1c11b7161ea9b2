// Scheduler: tasks start in order as slots allow (a registry at its cap is skipped,
// not waited on), a slot given back starts the next, spare() leaves the queue its
// slots, and the deadline on the engine's clock fails the run's owner once and
// drops the queue. No real time: the engine runs on a ManualClock.
#include "plan/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "reference/reference.h"

namespace ferry::plan {
namespace {

using namespace std::chrono_literals;

reference::Reference parse_ref(const std::string& text) {
  auto r = reference::parse(text);
  EXPECT_TRUE(r.has_value()) << text;
  return *r;
}

registry::ClientPool::OptionsFn capped_at(std::string domain, int cap) {
  return [domain, cap](const std::string& d) {
    registry::RegistryOptions ro;
    if (d == domain) ro.max_concurrency = cap;
    return ro;
  };
}

http::EngineOptions manual(std::shared_ptr<core::ManualClock> clock) {
  http::EngineOptions o;
  o.clock = std::move(clock);
  return o;
}

TEST(Scheduler, ARegistryAtItsCapIsSkippedNotWaitedOn) {
  http::Engine engine;
  Scheduler s(engine, capped_at("capped.example", 1), 3);
  auto* capped = s.client(parse_ref("capped.example/a:1"));
  auto* open = s.client(parse_ref("open.example/b:1"));
  std::vector<std::string> started;
  std::vector<Release> held;
  auto task = [&](std::string name) {
    return [&, name](Release r) {
      started.push_back(name);
      held.push_back(std::move(r));
    };
  };
  s.submit(capped, task("capped 1"));
  s.submit(capped, task("capped 2"));
  s.submit(open, task("open 1"));
  s.submit(open, task("open 2"));
  s.submit(open, task("open 3"));
  s.pump();
  // The run's limit is 3; the capped registry takes one, the open one the rest.
  EXPECT_EQ(started, (std::vector<std::string>{"capped 1", "open 1", "open 2"}));
  EXPECT_EQ(s.in_flight(), 3);
  EXPECT_EQ(s.queued(), 2u);
  held[0]();  // "capped 1" gives its slot back: the queue's first admissible is "capped 2"
  EXPECT_EQ(started.back(), "capped 2");
  held[0]();  // a second call gives nothing back
  EXPECT_EQ(s.in_flight(), 3);
  held[1]();
  EXPECT_EQ(started.back(), "open 3");
  EXPECT_EQ(s.queued(), 0u);
}

TEST(Scheduler, TasksThatGiveTheirSlotBackAtOnceRunInOrderWithoutNesting) {
  http::Engine engine;
  Scheduler s(engine, {}, 1);
  auto* c = s.client(parse_ref("r.example/a:1"));
  std::vector<int> order;
  int depth = 0, deepest = 0;
  for (int k = 0; k < 1000; ++k) {
    s.submit(c, [&, k](Release r) {
      ++depth;
      deepest = std::max(deepest, depth);
      order.push_back(k);
      r();
      --depth;
    });
  }
  s.submit_first(c, [&](Release r) {
    order.push_back(-1);
    r();
  });
  s.pump();
  ASSERT_EQ(order.size(), 1001u);
  EXPECT_EQ(order.front(), -1);  // submit_first went before the others
  EXPECT_EQ(order.back(), 999);
  EXPECT_EQ(deepest, 1);  // each started from the one pump loop, not from the last release
  EXPECT_EQ(s.in_flight(), 0);
}

TEST(Scheduler, SpareSlotsAreThoseTheQueueDoesNotClaim) {
  http::Engine engine;
  Scheduler s(engine, capped_at("r.example", 4), 0);
  auto* c = s.client(parse_ref("r.example/a:1"));
  EXPECT_EQ(s.spare(c), 4);
  std::vector<Release> held;
  held.push_back(s.take(c));
  s.submit(c, [&](Release r) { held.push_back(std::move(r)); });
  EXPECT_EQ(s.spare(c), 2);  // 3 free, 1 claimed by the queue
  s.pump();
  EXPECT_EQ(s.spare(c), 2);
  held.push_back(s.take(c));
  held.push_back(s.take(c));
  EXPECT_EQ(s.spare(c), 0);
  EXPECT_EQ(s.in_flight(), 4);
  for (auto& r : held) r();
  EXPECT_EQ(s.in_flight(), 0);
}

TEST(Scheduler, TheDeadlineFailsTheOwnerOnceAndDropsTheQueue) {
  auto clock = std::make_shared<core::ManualClock>();
  http::Engine engine(manual(clock));
  Scheduler s(engine, {}, 1);
  auto* c = s.client(parse_ref("r.example/a:1"));
  int started = 0;
  std::vector<std::string> deadline_errors;
  Release held;  // the first task keeps its slot: the others wait in the queue
  s.submit(c, [&](Release r) {
    ++started;
    held = std::move(r);
  });
  for (int k = 0; k < 3; ++k) s.submit(c, [&](Release r) { ++started, r(); });
  s.pump();
  bool late_timer_ran = false;
  engine.schedule(2min, [] {});  // moves the engine's clock past the deadline
  engine.schedule(1h, [&] { late_timer_ran = true; });
  auto st = s.run(90s, "90s", [&](const core::Error& e) {
    deadline_errors.push_back(e.message);
    EXPECT_EQ(s.queued(), 3u);  // called before the queue is dropped
  });
  ASSERT_TRUE(st);
  EXPECT_EQ(deadline_errors, (std::vector<std::string>{"deadline of 90s exceeded"}));
  EXPECT_TRUE(s.expired());
  EXPECT_FALSE(late_timer_ran);  // the engine was aborted: its timers dropped
  EXPECT_EQ(s.queued(), 0u);
  s.submit(c, [&](Release r) { ++started, r(); });
  held();  // a slot given back after the deadline starts nothing
  EXPECT_EQ(started, 1);
  EXPECT_EQ(s.in_flight(), 0);
}

TEST(Scheduler, ProgressIsReportedWhileBusyAndStartsAgainLater) {
  auto clock = std::make_shared<core::ManualClock>();
  http::Engine engine(manual(clock));
  Scheduler s(engine, {}, 0);
  auto* c = s.client(parse_ref("r.example/a:1"));
  int reports = 0;
  s.submit(c, [&](Release r) { engine.schedule(1000ms, [r] { r(); }); });
  s.pump();
  s.report_every(300ms, [&] { ++reports; });
  s.report_every(300ms, [&] { ++reports; });  // already running: no second ticker
  ASSERT_TRUE(s.run(std::nullopt, "", nullptr));
  EXPECT_EQ(reports, 3);  // 300, 600, 900 ms; at 1200 ms the run is not busy
  s.submit(c, [&](Release r) { engine.schedule(400ms, [r] { r(); }); });
  s.pump();
  s.report_every(300ms, [&] { ++reports; });
  ASSERT_TRUE(engine.run());
  EXPECT_EQ(reports, 4);
}

}  // namespace
}  // namespace ferry::plan
