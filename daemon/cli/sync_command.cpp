// `ferry sync`: mirror a watchlist once (--once) or on its schedule (daemon mode).
//
// One run is run::sync_once (pull, export set, mirror_to, last-run.json); this file
// loads the watchlist, prints the plan (--check), the run's errors and its summary,
// and keeps the daemon's schedule. In daemon mode
// runs never overlap (one thread), SIGTERM/SIGINT cancel the transfers and leave the
// partial files for the next run, and SIGHUP reloads the watchlist (a bad one is
// logged and the old one kept).
#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/run_report.h"
#include "config/config.h"
#include "config/registry_options.h"
#include "registry/client.h"
#include "run/schedule.h"
#include "run/sync_once.h"

namespace ferry::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_reload{false};
std::atomic<bool> g_stop{false};

void print_plan(const config::Watchlist& w, const std::string& store, const std::string& export_dir) {
  fmt::print("watchlist {}\n", w.source.string());
  fmt::print("store     {}\nexport    {}\n", store, export_dir.empty() ? "(none)" : export_dir);
  fmt::print("schedule  {}\nconcurrency {}\nsegments  {}\nforeign_layers {}\n", w.schedule.str(), w.concurrency,
             w.segments, w.fetch_foreign ? "fetch" : "refuse");
  const uint64_t min_rate = w.retry.blob_min_rate.value_or(registry::RetryPolicy{}.blob_min_rate);
  fmt::print("retry     max_attempts={} deadline={} blob_min_rate={}\n", w.retry.max_attempts,
             w.retry.deadline ? config::format_duration(*w.retry.deadline) : "none",
             min_rate ? std::to_string(min_rate) + "B/s" : "off");
  for (const auto& [host, r] : w.registries) {
    fmt::print("registry  {}{}{}{}{}\n", host, r.insecure ? " insecure" : "",
               r.credentials ? " credentials(" + r.credentials->username + ")" : "",
               r.concurrency ? fmt::format(" concurrency={}", r.concurrency) : "",
               r.max_attempts ? fmt::format(" max_attempts={}", r.max_attempts) : "");
  }
  if (w.mirror_to) fmt::print("mirror to {}\n", w.mirror_to->str());
  for (const auto& e : w.images) {
    std::string platforms;
    for (const auto& p : config::platforms_for(w, e)) {
      if (!platforms.empty()) platforms += ',';
      platforms += p.str();  // not `"," + p.str()`: GCC 12 -O3 warns falsely there (-Wrestrict, GCC PR105651)
    }
    fmt::print("image     {}  [{}]{}\n", e.ref.str(), e.all_platforms ? "all platforms" : platforms,
               e.referrers ? " +referrers" : "");
  }
}

// Registry connection settings for each domain (config/registry_options.h);
// `max_attempts` (from the command line) overrides the watchlist's when > 0.
core::Result<config::RegistryResolver> registry_options(const config::Watchlist& w, int max_attempts) {
  return config::registry_resolver(&w, config::RegistryFlags{{}, max_attempts, std::nullopt, {}});
}

}  // namespace

void add_sync_options(CLI::App& cmd, SyncArgs& a) {
  cmd.add_option("-c,--config", a.config, "watchlist file")->capture_default_str();
  cmd.add_flag("--once", a.once, "sync once and exit (default: run on the watchlist's schedule)");
  cmd.add_flag("--check", a.check, "validate the watchlist and print the plan, without network");
  cmd.add_option("--store", a.store, "store directory (overrides the watchlist's)");
  cmd.add_option("--export", a.export_dir, "export directory (overrides the watchlist's)");
  cmd.add_option("--metrics", a.metrics, "write Prometheus metrics here after each run");
  add_retry_options(cmd, a.max_attempts, a.deadline, a.segments);
}

namespace {

struct Loaded {
  config::Watchlist w;
  std::string store, export_dir;
};

core::Result<Loaded> load(const SyncArgs& a) {
  auto w = config::load(a.config);
  if (!w) return core::fail(w.error());
  Loaded l{std::move(*w), {}, {}};
  l.store = !a.store.empty() ? a.store : !l.w.store.empty() ? l.w.store : default_store_dir();
  l.export_dir = !a.export_dir.empty() ? a.export_dir : l.w.export_dir;
  if (a.deadline == "none") {
    l.w.retry.deadline.reset();
  } else if (!a.deadline.empty()) {  // the command line wins, also over a watchlist reloaded on SIGHUP
    auto d = config::parse_duration(a.deadline);
    if (!d) return core::fail(std::move(d.error().context("--deadline")));
    l.w.retry.deadline = *d;  // --check shows it too
  }
  if (a.segments > 0) l.w.segments = a.segments;
  return l;
}

// One run (run::sync_once). Returns the exit code: 0 all ok, 1 some failed or the
// run could not start, 2 the registry settings are wrong.
int run_once(const Loaded& l, const SyncArgs& a, http::Engine& engine) {
  auto ro = registry_options(l.w, a.max_attempts);
  if (!ro) return usage_error("sync", ro.error().message);
  run::SyncOnceOptions opts{l.store, l.export_dir, a.metrics, std::move(*ro), terminal_progress(), finish_progress};
  auto done = run::sync_once(l.w, opts, engine);
  if (!done) return run_failed("sync", done.error().message);
  for (const auto& e : done->errors) print_error("sync", e);
  print_summary(done->summary);
  return done->ok() ? kExitOk : kExitSomeFailed;
}

void on_hup(int) { g_reload.store(true); }

int run_daemon(Loaded l, const SyncArgs& a, http::Engine& engine) {
  std::signal(SIGHUP, on_hup);
  if (l.w.schedule.kind == config::Schedule::Kind::None) {
    return usage_error("sync", l.w.source.string() + ": no schedule; add `schedule:` or use --once");
  }
  spdlog::info("daemon started watchlist={} schedule={}", l.w.source.string(), l.w.schedule.str());
  for (;;) {
    auto when = run::next_run(l.w.schedule, std::chrono::system_clock::now());
    spdlog::info("next sync at {}", std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count());
    while (std::chrono::system_clock::now() < when && !engine.cancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!g_reload.exchange(false)) continue;
      auto fresh = load(a);
      if (!fresh) {
        spdlog::error("reload refused, keeping the running watchlist: {}", fresh.error().message);
        continue;
      }
      l = std::move(*fresh);
      spdlog::info("watchlist reloaded images={} schedule={}", l.w.images.size(), l.w.schedule.str());
      when = run::next_run(l.w.schedule, std::chrono::system_clock::now());
    }
    if (engine.cancelled()) break;
    run_once(l, a, engine);
    if (engine.cancelled()) break;
  }
  spdlog::info("daemon stopped by signal; partial downloads are kept for the next run");
  return kExitOk;
}

}  // namespace

int run_sync(const SyncArgs& a, http::Engine& engine) {
  auto l = load(a);
  if (!l) return usage_error("sync", l.error().message);
  if (a.check) {
    if (auto ro = registry_options(l->w, a.max_attempts); !ro) return usage_error("sync", ro.error().message);
    print_plan(l->w, l->store, l->export_dir);
    return kExitOk;
  }
  if (a.once) {
    int rc = run_once(*l, a, engine);
    if (engine.cancelled()) spdlog::warn("sync interrupted; partial downloads are kept for the next run");
    return rc;
  }
  return run_daemon(std::move(*l), a, engine);
}

}  // namespace ferry::cli
