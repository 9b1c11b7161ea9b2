// Scheduler: one admission queue over the run's ClientPool, the deadline and the
// progress ticks (see scheduler.h).
#include "plan/scheduler.h"

#include <fmt/format.h>

namespace ferry::plan {

void Release::operator()() const {
  if (!held_ || held_->given_back) return;
  held_->given_back = true;
  held_->scheduler->give_back(held_->client);
}

Scheduler::Scheduler(http::Engine& engine, registry::ClientPool::OptionsFn options, int concurrency)
    : engine_(engine), pool_(engine, tokens_, std::move(options), concurrency) {}

void Scheduler::submit(registry::Client* client, Task task) { queue_.push_back(Queued{client, std::move(task)}); }

void Scheduler::submit_first(registry::Client* client, Task task) {
  queue_.push_front(Queued{client, std::move(task)});
}

void Scheduler::pump() {
  // A task that gives its slot back at once (or submits) calls pump() again: the
  // loop below goes on from the front instead, so a long run of such tasks does not
  // nest one call per task.
  if (pumping_ || expired_) return;
  pumping_ = true;
  auto client_of = [](const Queued& q) { return q.client; };
  for (auto it = pool_.first_admissible(queue_.begin(), queue_.end(), client_of); it != queue_.end() && !expired_;
       it = pool_.first_admissible(queue_.begin(), queue_.end(), client_of)) {
    Queued q = std::move(*it);
    queue_.erase(it);
    q.task(take(q.client));
  }
  pumping_ = false;
}

int Scheduler::spare(const registry::Client* client) const {
  return pool_.free_slots(client) - static_cast<int>(queue_.size());
}

Release Scheduler::take(const registry::Client* client) {
  pool_.acquire(client);
  return Release(std::make_shared<Release::Held>(Release::Held{this, client, false}));
}

void Scheduler::give_back(const registry::Client* client) {
  pool_.release(client);
  pump();
}

core::Status Scheduler::run(std::optional<std::chrono::milliseconds> deadline, std::string text,
                            std::function<void(const core::Error&)> on_deadline) {
  if (deadline) deadline_at_ = engine_.clock().now() + *deadline;
  deadline_text_ = std::move(text);
  on_deadline_ = std::move(on_deadline);
  return engine_.run([this] {
    check_deadline();
    return engine_.idle();
  });
}

void Scheduler::check_deadline() {
  if (!deadline_at_ || expired_ || engine_.clock().now() < *deadline_at_) return;
  expired_ = true;
  const core::Error e =
      core::error(core::ErrorKind::Cancelled, fmt::format("deadline of {} exceeded", deadline_text_));
  if (on_deadline_) on_deadline_(e);
  queue_.clear();
  engine_.abort(e);
}

void Scheduler::report_every(std::chrono::milliseconds interval, std::function<void()> report) {
  report_interval_ = interval;
  report_ = std::move(report);
  if (!report_ || reporting_) return;
  reporting_ = true;
  engine_.schedule(report_interval_, [this] { tick(); });
}

void Scheduler::tick() {
  reporting_ = false;
  if (!busy()) return;  // the run is over (or between stages): let run() end
  report_();
  reporting_ = true;
  engine_.schedule(report_interval_, [this] { tick(); });
}

}  // namespace ferry::plan
