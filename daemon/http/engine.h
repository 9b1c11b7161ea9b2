// Engine: the one libcurl multi loop that carries every HTTP exchange of a run.
//
// Requests go in with a completion; the loop drives all of them concurrently over
// shared connections (keep-alive, HTTP/2 multiplexing where offered) and calls each
// completion on the loop's thread once the exchange is over. Completions may submit
// more requests or schedule timers. The engine knows nothing of registries: it does
// not follow redirects (the caller decides where Authorization may go), and it sends
// a 2xx body to the request's sink while any other body is kept in memory (bounded)
// for the caller's error message.
//
// Threads: every method but cancel() must be called from the thread that calls
// run(). cancel() is async-signal-safe enough for a SIGTERM handler (atomic store +
// curl_multi_wakeup). offload() hands blocking file-system work (fsync) to a Lane
// of the executor (core/executor.h: one work at a time, in order, on a pool thread)
// so that a slow disk never stalls the transfers. Time comes from
// the clock in EngineOptions (core/clock.h), so tests move it without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/unique_fd.h"

namespace ferry::http {

// What a PUT, PATCH or POST sends: bytes in memory (manifests), or a byte range of a
// file (blobs: read with pread as curl asks, never loaded whole). The engine opens
// the file at submit; a file shorter than offset + length fails the request (Io).
struct Body {
  std::string data;                    // used when `file` is empty
  std::string file;                    // opened at the start, unless `fd` is given
  uint64_t offset = 0;
  uint64_t length = 0;                 // bytes to send from `file`
  // The file already open (a store blob opened without following links); `file`
  // then only names it in messages. Shared: every attempt preads the same file.
  std::shared_ptr<const core::UniqueFd> fd;

  uint64_t size() const { return file.empty() ? data.size() : length; }
};

struct Request {
  std::string method = "GET";          // GET, HEAD, or with a body PUT, PATCH, POST
  std::string url;
  std::vector<std::string> headers;    // "Name: value"
  core::ByteSink* sink = nullptr;      // receives a 2xx body; nullptr: kept in Response::body
  uint64_t max_body = 4 << 20;         // cap for bodies kept in memory
  // Ask for bytes from here on (Range: bytes=N-). A 200 answer makes the engine call
  // sink->restart() before the first byte; a 206 must start exactly at N.
  uint64_t range_from = 0;
  // Sent with Content-Length (no chunked encoding, no Expect: 100-continue).
  std::optional<Body> body;
  // With range_to > 0 only bytes [range_from, range_to) are asked for (a segment);
  // a 200 then also makes the engine call sink->restart().
  uint64_t range_to = 0;
  bool verify_tls = true;
  std::string ca_file;                 // extra CA bundle, empty for the system one
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};  // abort when under 1 KiB/s for this long
  // The whole exchange at most this long on the engine's clock (and on curl's, as
  // a backstop): then it completes with a Timeout error. 0 = no limit.
  std::chrono::milliseconds max_time{0};
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;                    // non-2xx bodies, or all when no sink
  std::string effective_url;
  uint64_t body_bytes = 0;             // bytes received this exchange (sink or body)
  uint64_t bytes_sent = 0;             // request body bytes handed to curl
  double seconds = 0;

  // Last value of a header (name lowercase), "" when absent.
  std::string header(std::string_view name) const;
};

using Completion = std::function<void(core::Result<Response>)>;

struct EngineOptions {
  long max_total_connections = 64;
  long max_host_connections = 16;
  std::string user_agent = "ferry/0.1";
  // Timers, transfer times and everything the loop's users schedule or measure
  // (Engine::clock()). Null: core::real_clock(). With a core::ManualClock, run()
  // skips to the next timer whenever nothing else is pending (no transfer, no
  // offloaded work) instead of waiting.
  std::shared_ptr<core::Clock> clock;
  // Where offload() runs its works (a Lane of it: one at a time, in order). Null: a
  // pool of one thread of the engine's own, made on first use.
  std::shared_ptr<core::Executor> executor;
};

struct Stats {
  uint64_t requests = 0;
  uint64_t body_bytes = 0;
  uint64_t bytes_sent = 0;             // request bodies (uploads)
};

class Engine {
 public:
  explicit Engine(EngineOptions opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void submit(Request req, Completion done);
  // Run `fn` on the loop thread after `delay` (retry backoff).
  void schedule(std::chrono::milliseconds delay, std::function<void()> fn);

  // Run `work` on the engine's lane of the executor, then `then` on the loop thread (from
  // run(), like a completion). Works run one at a time in the order offloaded; the
  // loop keeps driving transfers meanwhile. `work` must touch nothing the loop
  // thread uses until `then` runs. Pending offloads count against idle(); abort()
  // leaves them to finish. After cancel(), run() waits for the work running now,
  // drops the works not started and runs no further `then`.
  void offload(std::function<void()> work, std::function<void()> then);
  // The executor offload() runs on (EngineOptions::executor, or the engine's own),
  // for other blocking work of the same run (export archives).
  core::Executor& executor();

  // Drive the loop until `done()` is true (or, without it, until no transfer or timer
  // is left). Returns Cancelled after cancel(); every pending completion has then
  // been called with a Cancelled error.
  core::Status run(const std::function<bool()>& done = nullptr);

  // Convenience for code outside completions: submit one request and run until it
  // completes (other transfers progress meanwhile).
  core::Result<Response> perform(Request req);

  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  // Loop thread only (a timer, a completion or run()'s predicate; never a sink). Ends
  // the current run
  // early, e.g. at a deadline: every transfer in flight completes now with `why`
  // (sinks keep what they received), every pending timer is dropped without running,
  // and until run() returns, submit() completes at once with `why` and schedule()
  // drops its function. Callers keep their own record of what was left unfinished.
  void abort(const core::Error& why);
  // No transfer in flight, no timer pending and no offloaded work outstanding.
  bool idle() const;
  size_t in_flight() const;
  const Stats& stats() const { return stats_; }
  core::Clock& clock() const;

 private:
  struct Impl;
  // Before impl_: its worker reads cancelled_ and its loop writes stats_ until it is
  // destroyed.
  std::atomic<bool> cancelled_{false};
  Stats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::http
