// http::Engine against the in-process FakeRegistry: where bodies go (sink, or
// Response::body for non-2xx and sinkless requests), the max_body cap, Range resume
// (206 with the right Content-Range, a 200 that restarts the sink, a 206 that starts
// elsewhere), cut connections, many transfers at once, timers, cancel() and a refused
// connection.
#include "http/engine.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/byte_sink.h"
#include "support/fake_registry.h"
#include "support/temp_dir.h"

#include <fstream>

namespace ferry::http {
namespace {

using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;

// 1000 bytes that show where a wrong offset would land.
std::string sample_body() {
  std::string s;
  for (int i = 0; s.size() < 1000; ++i) s += std::to_string(i) + ",";
  return s.substr(0, 1000);
}

EngineOptions on(std::shared_ptr<core::Clock> clock) {
  EngineOptions o;
  o.clock = std::move(clock);
  return o;
}

int64_t ms_since_start(const core::ManualClock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.elapsed()).count();
}

Request get(const FakeRegistry& server, std::string_view path, core::ByteSink* sink = nullptr) {
  Request r;
  r.url = server.url(path);
  r.sink = sink;
  r.connect_timeout = std::chrono::seconds(5);
  r.stall_timeout = std::chrono::seconds(10);
  return r;
}

// Serves sample_body() at any path, honouring `Range: bytes=N-` with a 206.
FakeResponse serve_with_ranges(const FakeRequest& req) {
  const std::string body = sample_body();
  const std::string range = req.header("range");
  if (range.rfind("bytes=", 0) == 0 && range.back() == '-') {
    size_t from = std::stoul(range.substr(6));
    return FakeResponse{206,
                        {{"Content-Range", "bytes " + std::to_string(from) + "-" +
                                               std::to_string(body.size() - 1) + "/" + std::to_string(body.size())}},
                        body.substr(from), std::nullopt, 0};
  }
  return FakeResponse{200, {}, body, std::nullopt, 0};
}

TEST(Engine, GetWritesA2xxBodyToTheSink) {
  FakeRegistry server([](const FakeRequest&) {
    return FakeResponse{200, {{"Content-Type", "text/plain"}, {"X-Thing", "a"}}, "hello world", std::nullopt, 0};
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  auto r = engine.perform(get(server, "/hello", &sink));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(sink.data(), "hello world");
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->body_bytes, 11u);
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_EQ(r->header("x-thing"), "a");
  EXPECT_EQ(r->effective_url, server.url("/hello"));
  ASSERT_EQ(server.request_count(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  EXPECT_EQ(server.requests()[0].path, "/hello");
  EXPECT_EQ(engine.stats().requests, 1u);
}

TEST(Engine, GetWithoutASinkKeepsTheBodyInTheResponse) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{200, {}, "{\"a\":1}", std::nullopt, 0}; });
  Engine engine;
  auto r = engine.perform(get(server, "/m"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "{\"a\":1}");
}

TEST(Engine, SendsRequestHeadersAndHeadReadsHeadersOnly) {
  FakeRegistry server([](const FakeRequest&) {
    return FakeResponse{200, {{"Docker-Content-Digest", "sha256:abc"}}, std::string(300, 'x'), std::nullopt, 0};
  });
  Engine engine;
  Request req = get(server, "/h");
  req.method = "HEAD";
  req.headers = {"Accept: application/json", "X-Custom: 1"};
  auto r = engine.perform(std::move(req));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("docker-content-digest"), "sha256:abc");
  EXPECT_EQ(r->header("content-length"), "300");
  EXPECT_EQ(r->body_bytes, 0u);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "HEAD");
  EXPECT_EQ(seen[0].header("accept"), "application/json");
  EXPECT_EQ(seen[0].header("x-custom"), "1");
}

TEST(Engine, KeepsANon2xxBodyInTheResponseNotTheSink) {
  FakeRegistry server([](const FakeRequest&) {
    return FakeResponse{404, {}, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})", std::nullopt, 0};
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  auto r = engine.perform(get(server, "/missing", &sink));
  ASSERT_TRUE(r) << r.error().message;  // a status is an answer, not a transport error
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})");
  EXPECT_EQ(sink.size(), 0u);
}

TEST(Engine, ABodyOverMaxBodyIsAnError) {
  FakeRegistry server(
      [](const FakeRequest&) { return FakeResponse{200, {}, std::string(5000, 'm'), std::nullopt, 0}; });
  Engine engine;
  Request req = get(server, "/big");
  req.max_body = 1000;
  auto r = engine.perform(std::move(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::SizeMismatch);
  EXPECT_NE(r.error().message.find("1000"), std::string::npos) << r.error().message;
}

TEST(Engine, AnErrorBodyOverMaxBodyIsCutAndTheStatusKept) {
  FakeRegistry server([](const FakeRequest&) {
    return FakeResponse{503, {}, "<html>" + std::string(100000, 'e'), std::nullopt, 0};
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  Request req = get(server, "/busy", &sink);
  req.max_body = 1000;
  auto r = engine.perform(std::move(req));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "<html>" + std::string(994, 'e'));
  EXPECT_EQ(sink.size(), 0u);
}

TEST(Engine, ASinkErrorStopsTheTransfer) {
  FakeRegistry server(
      [](const FakeRequest&) { return FakeResponse{200, {}, std::string(5000, 's'), std::nullopt, 0}; });
  Engine engine;
  core::StringSink sink(100);
  auto r = engine.perform(get(server, "/big", &sink));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::SizeMismatch);
}

TEST(Engine, RangeResumeAppendsTheRestToTheSink) {
  FakeRegistry server(serve_with_ranges);
  Engine engine;
  const std::string body = sample_body();
  core::StringSink sink(1 << 20);
  ASSERT_TRUE(sink.write(body.data(), 400));
  Request req = get(server, "/blob", &sink);
  req.range_from = sink.size();
  auto r = engine.perform(std::move(req));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(server.requests().at(0).header("range"), "bytes=400-");
  EXPECT_EQ(r->body_bytes, 600u);
  EXPECT_EQ(sink.data(), body);
}

TEST(Engine, RangeIgnoredWith200RestartsTheSink) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{200, {}, sample_body(), std::nullopt, 0}; });
  Engine engine;
  core::StringSink sink(1 << 20);
  ASSERT_TRUE(sink.write("stale prefix", 12));
  Request req = get(server, "/blob", &sink);
  req.range_from = sink.size();
  auto r = engine.perform(std::move(req));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.requests().at(0).header("range"), "bytes=12-");
  EXPECT_EQ(sink.data(), sample_body());
}

TEST(Engine, A206StartingElsewhereIsRangeIgnored) {
  FakeRegistry server([](const FakeRequest&) {
    return FakeResponse{206, {{"Content-Range", "bytes 0-999/1000"}}, sample_body(), std::nullopt, 0};
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  ASSERT_TRUE(sink.write("0123456789", 10));
  Request req = get(server, "/blob", &sink);
  req.range_from = 10;
  auto r = engine.perform(std::move(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::RangeIgnored);
  EXPECT_EQ(sink.data(), "0123456789");  // nothing appended at the wrong offset
}

TEST(Engine, A206WithoutContentRangeIsRangeIgnored) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{206, {}, "rest", std::nullopt, 0}; });
  Engine engine;
  core::StringSink sink(1 << 20);
  ASSERT_TRUE(sink.write("0123456789", 10));
  Request req = get(server, "/blob", &sink);
  req.range_from = 10;
  auto r = engine.perform(std::move(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::RangeIgnored);
}

TEST(Engine, AConnectionCutMidBodyIsANetworkErrorAndTheSinkKeepsThePrefix) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{200, {}, sample_body(), 300, 0}; });
  Engine engine;
  core::StringSink sink(1 << 20);
  auto r = engine.perform(get(server, "/blob", &sink));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::Network);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(sink.data(), sample_body().substr(0, 300));
}

TEST(Engine, ResumingAfterACutCompletesTheBody) {
  std::atomic<int> calls{0};
  FakeRegistry server([&calls](const FakeRequest& req) {
    FakeResponse resp = serve_with_ranges(req);
    if (calls++ == 0) resp.cut_after = 250;
    return resp;
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  ASSERT_FALSE(engine.perform(get(server, "/blob", &sink)));
  ASSERT_EQ(sink.size(), 250u);
  Request again = get(server, "/blob", &sink);
  again.range_from = sink.size();
  auto r = engine.perform(std::move(again));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sink.data(), sample_body());
}

TEST(Engine, FiftyConcurrentRequestsAllComplete) {
  FakeRegistry server([](const FakeRequest& req) {
    return FakeResponse{200, {}, "body of " + req.path, std::nullopt, req.path.size() % 3 == 0 ? 5 : 0};
  });
  Engine engine;
  constexpr int kCount = 50;
  std::vector<std::unique_ptr<core::StringSink>> sinks;
  std::vector<std::optional<core::Result<Response>>> results(kCount);
  for (int i = 0; i < kCount; ++i) {
    sinks.push_back(std::make_unique<core::StringSink>(1024));
    engine.submit(get(server, "/item/" + std::to_string(i), sinks.back().get()),
                  [&results, i](core::Result<Response> r) { results[i] = std::move(r); });
  }
  EXPECT_EQ(engine.in_flight(), static_cast<size_t>(kCount));
  auto st = engine.run();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(engine.in_flight(), 0u);
  for (int i = 0; i < kCount; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(results[i].has_value());
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    EXPECT_EQ((*results[i])->status, 200);
    EXPECT_EQ(sinks[i]->data(), "body of /item/" + std::to_string(i));
  }
  EXPECT_EQ(server.request_count(), static_cast<size_t>(kCount));
  EXPECT_EQ(engine.stats().requests, static_cast<uint64_t>(kCount));
}

TEST(Engine, CompletionsMaySubmitMoreRequests) {
  FakeRegistry server([](const FakeRequest& req) { return FakeResponse{200, {}, req.path, std::nullopt, 0}; });
  Engine engine;
  std::vector<std::string> bodies;
  std::function<void(core::Result<Response>)> on_done = [&](core::Result<Response> r) {
    ASSERT_TRUE(r) << r.error().message;
    bodies.push_back(r->body);
    if (bodies.size() < 3) engine.submit(get(server, "/next/" + std::to_string(bodies.size())), on_done);
  };
  engine.submit(get(server, "/next/0"), on_done);
  ASSERT_TRUE(engine.run());
  EXPECT_EQ(bodies, (std::vector<std::string>{"/next/0", "/next/1", "/next/2"}));
}

TEST(Engine, TimersRunInDueOrderThenBySubmission) {
  // On a manual clock the loop skips to each timer: the instants are exact.
  auto clock = std::make_shared<core::ManualClock>();
  Engine engine(on(clock));
  std::vector<std::pair<std::string, int64_t>> order;
  auto at = [&](std::string what) { order.emplace_back(std::move(what), ms_since_start(*clock)); };
  engine.schedule(std::chrono::milliseconds(30), [&] { at("30ms"); });
  engine.schedule(std::chrono::milliseconds(10), [&] { at("10ms first"); });
  engine.schedule(std::chrono::milliseconds(10), [&] { at("10ms second"); });
  engine.schedule(std::chrono::milliseconds(0), [&] {
    at("0ms");
    engine.schedule(std::chrono::milliseconds(15), [&] { at("15ms from a timer"); });
  });
  ASSERT_TRUE(engine.run());
  using P = std::pair<std::string, int64_t>;
  EXPECT_EQ(order, (std::vector<P>{P{"0ms", 0}, P{"10ms first", 10}, P{"10ms second", 10},
                                   P{"15ms from a timer", 15}, P{"30ms", 30}}));
  EXPECT_EQ(clock->skips(), 3u);  // 10, 15, 30: the loop never waited on real time
}

TEST(Engine, ATimerDueInAnHourRunsAtOnceOnAManualClock) {
  auto clock = std::make_shared<core::ManualClock>();
  Engine engine(on(clock));
  int64_t fired_at = -1;
  engine.schedule(std::chrono::hours(1), [&] { fired_at = ms_since_start(*clock); });
  ASSERT_TRUE(engine.run());
  EXPECT_EQ(fired_at, 3600 * 1000);
  EXPECT_EQ(clock->skips(), 1u);
}

TEST(Engine, MaxTimeIsMeasuredOnTheEnginesClock) {
  // The server holds its answer for 10 s of real time; the test moves the engine's
  // clock an hour past the transfer's max_time of an hour once the request has
  // arrived. (curl's own timeout, the backstop, would wait that hour for real.)
  auto clock = std::make_shared<core::ManualClock>();
  std::atomic<bool> arrived{false};
  FakeRegistry server([&](const FakeRequest&) {
    arrived = true;
    return FakeResponse{200, {}, "late", std::nullopt, 10000};
  });
  Engine engine(on(clock));
  Request r = get(server, "/slow");
  r.max_time = std::chrono::hours(1);
  std::thread mover([&] {
    while (!arrived) std::this_thread::yield();
    clock->advance(std::chrono::hours(2));
  });
  auto resp = engine.perform(r);
  mover.join();
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().kind, core::ErrorKind::Timeout);
  EXPECT_NE(resp.error().message.find("timed out after 3600000 milliseconds"), std::string::npos)
      << resp.error().message;
}

TEST(Engine, CancelMakesRunReturnCancelledAndFailsPendingCompletions) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{200, {}, "late", std::nullopt, 10000}; });
  Engine engine;
  std::vector<core::Result<Response>> results;
  for (int i = 0; i < 3; ++i) {
    engine.submit(get(server, "/slow"), [&results](core::Result<Response> r) { results.push_back(std::move(r)); });
  }
  bool later_timer_ran = false;
  // A 0 ms timer runs on the first pass of the loop, with the transfers in flight.
  engine.schedule(std::chrono::milliseconds(0), [&engine] { engine.cancel(); });
  engine.schedule(std::chrono::seconds(20), [&later_timer_ran] { later_timer_ran = true; });
  auto st = engine.run();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, core::ErrorKind::Cancelled);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, core::ErrorKind::Cancelled);
  }
  EXPECT_FALSE(later_timer_ran);
  EXPECT_EQ(engine.in_flight(), 0u);

  // Once cancelled, new submissions fail at once.
  std::optional<core::Result<Response>> after;
  engine.submit(get(server, "/slow"), [&after](core::Result<Response> r) { after = std::move(r); });
  ASSERT_TRUE(after.has_value());
  ASSERT_FALSE(*after);
  EXPECT_EQ(after->error().kind, core::ErrorKind::Cancelled);
}

TEST(Engine, AbortEndsTheRunWithItsErrorAndTheNextRunWorks) {
  FakeRegistry server([](const FakeRequest& req) {
    return FakeResponse{200, {}, "late", std::nullopt, req.path_only() == "/slow" ? 10000 : 0};
  });
  Engine engine;
  std::vector<core::Result<Response>> results;
  for (int i = 0; i < 2; ++i) {
    engine.submit(get(server, "/slow"), [&results](core::Result<Response> r) { results.push_back(std::move(r)); });
  }
  const core::Error why = core::error(core::ErrorKind::Cancelled, "deadline of 1s exceeded");
  bool later_timer_ran = false;
  std::optional<core::Result<Response>> submitted_after;
  engine.schedule(std::chrono::milliseconds(0), [&] {
    engine.abort(why);
    // Until run() returns, new work fails at once and timers are dropped.
    engine.submit(get(server, "/fast"), [&](core::Result<Response> r) { submitted_after = std::move(r); });
    engine.schedule(std::chrono::milliseconds(1), [&later_timer_ran] { later_timer_ran = true; });
  });
  engine.schedule(std::chrono::seconds(20), [&later_timer_ran] { later_timer_ran = true; });
  ASSERT_TRUE(engine.run());  // an abort is not a cancel: run() ends normally
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "deadline of 1s exceeded");
  }
  ASSERT_TRUE(submitted_after.has_value());
  EXPECT_FALSE(*submitted_after);
  EXPECT_FALSE(later_timer_ran);
  EXPECT_TRUE(engine.idle());

  auto again = engine.perform(get(server, "/fast"));  // the abort ended with that run
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->status, 200);
}

TEST(Engine, ABoundedRangeAsksForBothEnds) {
  FakeRegistry server([](const FakeRequest& req) {
    const std::string body = sample_body();
    if (req.header("range") != "bytes=100-199") return FakeResponse{200, {}, body, std::nullopt, 0};
    return FakeResponse{206, {{"Content-Range", "bytes 100-199/1000"}}, body.substr(100, 100), std::nullopt, 0};
  });
  Engine engine;
  core::StringSink sink(1 << 20);
  Request r = get(server, "/blob", &sink);
  r.range_from = 100;
  r.range_to = 200;
  auto resp = engine.perform(r);
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->status, 206);
  EXPECT_EQ(sink.data(), sample_body().substr(100, 100));
}

TEST(Engine, CancelFromAnotherThreadWakesRun) {
  std::promise<void> arrived;
  auto arrived_future = arrived.get_future();
  std::atomic<bool> signalled{false};
  FakeRegistry server([&](const FakeRequest&) {
    if (!signalled.exchange(true)) arrived.set_value();
    return FakeResponse{200, {}, "late", std::nullopt, 10000};
  });
  Engine engine;
  std::thread canceller([&] {
    arrived_future.wait();
    engine.cancel();
  });
  auto r = engine.perform(get(server, "/slow"));
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::Cancelled);
  EXPECT_TRUE(engine.cancelled());
}

// offload(): the work runs off the loop thread, its `then` on it, in order, and the
// loop keeps serving transfers while a work blocks.
TEST(EngineOffload, WorkRunsOffTheLoopAndThenOnItInOrder) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{200, {}, "ok", std::nullopt, 0}; });
  Engine engine;
  const auto loop = std::this_thread::get_id();
  std::vector<int> order;
  std::vector<std::thread::id> work_threads, then_threads;
  std::promise<void> release;
  auto released = release.get_future().share();
  // The first work blocks until a transfer submitted after it has completed.
  engine.offload([&, released] {
    work_threads.push_back(std::this_thread::get_id());
    released.wait();
  }, [&] {
    then_threads.push_back(std::this_thread::get_id());
    order.push_back(1);
  });
  engine.offload([&] { work_threads.push_back(std::this_thread::get_id()); }, [&] {
    then_threads.push_back(std::this_thread::get_id());
    order.push_back(2);
  });
  EXPECT_FALSE(engine.idle());
  engine.submit(get(server, "/x"), [&](core::Result<Response> r) {
    ASSERT_TRUE(r);
    order.push_back(0);
    release.set_value();
  });
  ASSERT_TRUE(engine.run());
  EXPECT_TRUE(engine.idle());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  ASSERT_EQ(work_threads.size(), 2u);
  for (auto id : work_threads) EXPECT_NE(id, loop);
  for (auto id : then_threads) EXPECT_EQ(id, loop);
}

TEST(EngineOffload, CancelWaitsForTheRunningWorkAndDropsTheRest) {
  // The first work cannot finish before cancel() has been called: run() returning
  // with first_done set shows that cancel waited for it.
  Engine engine;
  std::atomic<bool> first_started{false}, first_done{false}, second_ran{false};
  std::promise<void> cancelled;
  auto cancelled_future = cancelled.get_future().share();
  int thens = 0;
  engine.offload([&, cancelled_future] {
    first_started = true;
    cancelled_future.wait();
    first_done = true;
  }, [&] { ++thens; });
  engine.offload([&] { second_ran = true; }, [&] { ++thens; });
  std::thread canceller([&] {
    while (!first_started) std::this_thread::yield();
    engine.cancel();
    cancelled.set_value();
  });
  auto st = engine.run();
  canceller.join();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, core::ErrorKind::Cancelled);
  EXPECT_TRUE(first_done.load());  // run() did not return under a running work
  EXPECT_FALSE(second_ran.load());
  EXPECT_EQ(thens, 0);
}

TEST(EngineOffload, AnEngineDestroyedWithWorkPendingJoinsItsWorker) {
  // The running work finishes before the destructor returns (joined, not
  // detached), and no `then` runs: thens belong to the loop thread, and there is
  // no run().
  std::atomic<bool> started{false}, done{false};
  std::atomic<int> thens{0};
  std::promise<void> release;
  auto released = release.get_future().share();
  std::thread releaser;
  {
    Engine engine;
    engine.offload([&, released] {
      started = true;
      released.wait();
      done = true;
    }, [&] { ++thens; });
    for (int i = 0; i < 2; ++i) engine.offload([] {}, [&] { ++thens; });
    while (!started) std::this_thread::yield();
    releaser = std::thread([&] { release.set_value(); });
  }
  EXPECT_TRUE(done.load());
  EXPECT_EQ(thens.load(), 0);
  releaser.join();
}

TEST(Engine, ARefusedConnectionIsANetworkError) {
  // A bound socket that never listens: connecting to its port is refused, and the
  // port stays ours for the whole test.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  Engine engine;
  Request req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v2/";
  auto r = engine.perform(std::move(req));
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::Network);
  EXPECT_NE(r.error().message.find("GET"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace ferry::http

// ---- request bodies -------------------------------------------------------------

namespace ferry::http {
namespace {

TEST(EngineBody, AFileRangeIsSentWithItsContentLength) {
  ferry::testing::TempDir dir;
  const std::string content = sample_body();
  const auto path = dir.path() / "blob";
  std::ofstream(path, std::ios::binary) << content;
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{201, {}, "", std::nullopt, 0}; });
  Engine engine;
  Request r = get(server, "/upload");
  r.method = "PATCH";
  r.body = Body{{}, path.string(), 10, 300, {}};
  auto resp = engine.perform(std::move(r));
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->bytes_sent, 300u);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PATCH");
  EXPECT_EQ(seen[0].body, content.substr(10, 300));
  EXPECT_EQ(seen[0].header("content-length"), "300");
  EXPECT_FALSE(seen[0].has_header("expect"));
}

TEST(EngineBody, AnEmptyOrInMemoryBodyIsSentAsIs) {
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{202, {}, "", std::nullopt, 0}; });
  Engine engine;
  Request post = get(server, "/uploads/");
  post.method = "POST";
  post.body = Body{};
  ASSERT_TRUE(engine.perform(std::move(post)));
  Request put = get(server, "/manifest");
  put.method = "PUT";
  put.body = Body{"{\"a\": 1}", {}, 0, 0, {}};
  ASSERT_TRUE(engine.perform(std::move(put)));
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].header("content-length"), "0");
  EXPECT_EQ(seen[1].body, "{\"a\": 1}");
}

TEST(EngineBody, AFileShorterThanTheRangeFailsWithAnIoError) {
  ferry::testing::TempDir dir;
  const auto path = dir.path() / "short";
  std::ofstream(path, std::ios::binary) << "only a few bytes";
  FakeRegistry server([](const FakeRequest&) { return FakeResponse{201, {}, "", std::nullopt, 0}; });
  Engine engine;
  Request r = get(server, "/upload");
  r.method = "PUT";
  r.body = Body{{}, path.string(), 0, 1000, {}};
  auto resp = engine.perform(std::move(r));
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().kind, core::ErrorKind::Io) << resp.error().message;
  Request missing = get(server, "/upload");
  missing.method = "PUT";
  missing.body = Body{{}, (dir.path() / "absent").string(), 0, 10, {}};
  auto gone = engine.perform(std::move(missing));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, core::ErrorKind::Io);
}

}  // namespace
}  // namespace ferry::http
