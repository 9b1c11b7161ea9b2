// Scheduler: admission, deadline and progress for one pull or push run, over one
// engine loop and one registry::ClientPool (shared by pull and push).
//
// Work is submitted per registry Client as tasks. A task starts holding one slot of
// its registry (the run's `concurrency` over all registries, and each registry's own
// max_concurrency) and gives it back by calling its Release once, when its request
// is over; the next queued task starts then. Tasks start in queue order, except that
// a registry at its cap is skipped, not waited on, so the others keep going; a retry
// may go to the front. A task that fans out (a blob's Range segments) takes extra
// slots with take(), within spare(): what the queue does not claim.
//
// run() drives the engine until nothing is in flight or queued. With a deadline on
// the engine's clock, once it has passed (checked between loop iterations) the run's
// owner fails what it must (on_deadline), the queue is dropped and the requests in
// flight stop with "deadline of <text> exceeded". report_every() calls a progress
// report at an interval while the run is busy.
//
// Loop thread only. The engine must outlive it; Clients it hands out live as long
// as it does.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/auth.h"
#include "core/error.h"
#include "http/engine.h"
#include "reference/reference.h"
#include "registry/client.h"
#include "registry/client_pool.h"

namespace ferry::plan {

class Scheduler;

// One slot, held by a task: calling it (any copy, any number of times) gives the slot
// back once and starts what the queue holds.
class Release {
 public:
  Release() = default;
  void operator()() const;

 private:
  friend class Scheduler;
  struct Held {
    Scheduler* scheduler;
    const registry::Client* client;
    bool given_back = false;
  };
  explicit Release(std::shared_ptr<Held> held) : held_(std::move(held)) {}
  std::shared_ptr<Held> held_;
};

class Scheduler {
 public:
  using Task = std::function<void(Release)>;

  // `concurrency`: requests in flight over all registries (<= 0: no cap but the registries' own).
  Scheduler(http::Engine& engine, registry::ClientPool::OptionsFn options, int concurrency);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The Client for ref's registry (one per API host, shared ping and tokens).
  registry::Client* client(const reference::Reference& ref) { return pool_.get(ref); }
  http::Engine& engine() { return engine_; }

  // Queue a task for `client`'s registry; submit_first puts it before the others
  // (work that was started once and goes again). Neither starts it: pump() does.
  void submit(registry::Client* client, Task task);
  void submit_first(registry::Client* client, Task task);
  // Start queued tasks while slots allow. Re-entrant: a task may submit and pump.
  void pump();

  size_t queued() const { return queue_.size(); }
  int in_flight() const { return pool_.in_flight(); }
  bool busy() const { return in_flight() > 0 || !queue_.empty(); }

  // Slots `client` could take now beyond what the queue will claim (may be <= 0),
  // and one such slot taken.
  int spare(const registry::Client* client) const;
  Release take(const registry::Client* client);

  // Run the engine until it is idle. `deadline`: the run at most this long from now
  // on the engine's clock (`text`: how the user wrote it); `on_deadline` is called
  // once when it has passed, before the queue is dropped and the engine aborted.
  core::Status run(std::optional<std::chrono::milliseconds> deadline, std::string text,
                   std::function<void(const core::Error&)> on_deadline);
  // The deadline has passed: nothing new should start.
  bool expired() const { return expired_; }

  // Call `report` every `interval` while busy(); it stops when the run is not, and a
  // later call starts it again (a no-op while it runs).
  void report_every(std::chrono::milliseconds interval, std::function<void()> report);

 private:
  friend class Release;
  struct Queued {
    registry::Client* client;
    Task task;
  };
  void give_back(const registry::Client* client);
  void check_deadline();
  void tick();

  http::Engine& engine_;
  auth::TokenCache tokens_;
  registry::ClientPool pool_;
  std::deque<Queued> queue_;
  std::optional<std::chrono::steady_clock::time_point> deadline_at_;
  std::string deadline_text_;
  std::function<void(const core::Error&)> on_deadline_;
  bool expired_ = false;
  std::chrono::milliseconds report_interval_{0};
  std::function<void()> report_;
  bool reporting_ = false;
  bool pumping_ = false;
};

}  // namespace ferry::plan
