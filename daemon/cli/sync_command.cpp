// `ferry sync`: mirror a watchlist once (--once) or on its schedule (daemon mode).
//
// One run: load the watchlist, take the store lock, pull every entry in one plan
// (HEAD first: unchanged tags cost one request and nothing else), build a new
// export set (airgap::SyncExport: the tarballs of a changed image written as soon
// as its blobs are in, while the other images still download; the others
// hard-linked from the current set) and switch the export directory to it atomically, then record
// state/last-run.json and print a summary. In daemon mode
// runs never overlap (one thread), SIGTERM/SIGINT cancel the transfers and leave the
// partial files for the next run, and SIGHUP reloads the watchlist (a bad one is
// logged and the old one kept).
#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "airgap/sync_export.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/run_report.h"
#include "config/config.h"
#include "config/registry_options.h"
#include "export/export.h"
#include "airgap/export_set.h"
#include "push/push.h"
#include "registry/client.h"
#include "store/lock.h"
#include "store/store.h"
#include "sync/export_names.h"
#include "sync/pull.h"

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

// Push every image this run mirrored to mirror_to (a HEAD on the destination tag
// makes an image already there cost one request). Outcomes land in `s`.
void mirror_images(const config::MirrorTarget& target, const store::Store& store, const sync::PullReport& report,
                   const push::PushOptions& opts, http::Engine& engine, RunSummary& s) {
  std::vector<push::PushItem> items;
  std::vector<size_t> outcome_of;  // item -> index in s.images
  for (size_t i = 0; i < report.images.size(); ++i) {
    const auto& img = report.images[i];
    if (img.error || !s.images[i].error.empty()) continue;
    auto dest = push::map_destination(img.ref, target.str());
    if (!dest) {
      s.images[i].error = "push: " + dest.error().message;
      continue;
    }
    items.push_back({img.ref.str(), img.entries, *dest, {}});
    outcome_of.push_back(i);
  }
  // Each image's referrers go with it; a failed one fails its subject's outcome.
  if (std::any_of(report.images.begin(), report.images.end(), [](const auto& im) { return !im.referrers.empty(); })) {
    auto all = push::store_items(store);
    if (!all) {
      for (size_t i : outcome_of) s.images[i].error = "push: " + all.error().message;
      return;
    }
    const size_t subjects = items.size();
    for (size_t k = 0; k < subjects; ++k) {
      for (const auto& ref : report.images[outcome_of[k]].referrers) {
        auto it = std::find_if(all->begin(), all->end(), [&](const auto& a) { return a.source == ref.str(); });
        if (it == all->end()) continue;
        push::PushItem item = *it;
        item.destination = push::referrer_destination(items[k].destination, ref);
        items.push_back(std::move(item));
        outcome_of.push_back(outcome_of[k]);
      }
    }
  }
  if (items.empty()) return;
  s.mirrored = true;
  spdlog::info("mirroring images={} to={}", items.size(), target.str());
  push::PushOptions with_progress = opts;
  with_progress.progress = terminal_progress();
  auto pushed = push::push(store, items, with_progress, engine);
  finish_progress();
  if (!pushed) {
    for (size_t i : outcome_of) s.images[i].error = "push: " + pushed.error().message;
    return;
  }
  s.requests += pushed->requests;
  s.pushed_bytes += pushed->bytes_uploaded;
  s.seconds += pushed->seconds;
  for (size_t k = 0; k < pushed->images.size(); ++k) {
    const auto& p = pushed->images[k];
    auto& o = s.images[outcome_of[k]];
    if (!p.error && !o.pushed_to.empty()) continue;  // a referrer pushed: its subject's line stands
    if (!o.pushed_to.empty() && p.error) {
      o.error = "push referrer " + p.source + ": " + p.error->message;
      print_error("sync", o.error);
      continue;
    }
    o.pushed_to = p.destination.str();
    o.push_current = p.unchanged;
    o.pushed_bytes = p.bytes_uploaded;
    if (p.error) {
      o.error = p.error->message;
      print_error("sync", o.error);
    }
  }
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

// One run. Returns the exit code: 0 all ok, 1 some failed or the run could not start.
int run_once(const Loaded& l, const SyncArgs& a, http::Engine& engine) {
  auto store = store::Store::open(l.store, true);
  if (!store) return run_failed("sync", store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return run_failed("sync", lock.error().message);
  auto ro = registry_options(l.w, a.max_attempts);
  if (!ro) return usage_error("sync", ro.error().message);
  std::vector<sync::PullTarget> targets;
  for (const auto& e : l.w.images) {
    auto platforms = config::platforms_for(l.w, e);
    targets.push_back({e.ref, platforms, e.all_platforms || platforms.empty(), e.referrers});
  }
  sync::PullOptions opts;
  opts.concurrency = l.w.concurrency;
  push::PushOptions push_opts;
  push_opts.concurrency = l.w.concurrency;
  push_opts.registry_options = *ro;
  opts.segments = l.w.segments;
  opts.fetch_foreign = l.w.fetch_foreign;
  opts.registry_options = std::move(*ro);
  if (auto st = apply_deadline({}, l.w.retry.deadline, opts); !st) return usage_error("sync", st.error().message);
  opts.skip_unchanged = true;
  std::optional<airgap::ExportSetBuilder> set;
  bool export_failed = false;  // the mirror is fine, but the export set was not switched
  if (!l.export_dir.empty()) {
    auto begun = airgap::ExportSetBuilder::begin(l.export_dir);
    if (!begun) spdlog::error("export directory {}: {}; tarballs will not be written", l.export_dir, begun.error().message);
    if (begun) set.emplace(std::move(*begun));
    export_failed = !begun;
  }
  std::vector<reference::Reference> refs;
  for (const auto& t : targets) refs.push_back(t.ref);
  const sync::ExportNames names(refs);  // decided before anything is written
  std::optional<airgap::SyncExport> exports;
  if (set) {
    exports.emplace(*store, *set, names, targets.size(), engine.executor());
    opts.on_image_ready = [&exports](size_t i, const sync::PulledImage& img,
                                     const std::vector<digest::Digest>& fetched) { exports->ready(i, img, fetched); };
  }
  spdlog::info("sync started watchlist={} images={} store={}", l.w.source.string(), targets.size(), l.store);
  opts.progress = terminal_progress();
  const auto run_started = std::chrono::steady_clock::now();
  auto report = sync::pull(*store, targets, opts, engine);
  finish_progress();
  if (!report) {
    if (exports) exports->abandon();
    return run_failed("sync", report.error().message);
  }

  RunSummary s;
  s.requests = report->requests;
  s.bytes = report->bytes_fetched;
  for (const auto& img : report->images) {
    ImageOutcome o{img.ref.str(), "", img.changed, img.bytes_fetched, img.seconds, "", "", false, "", false, 0};
    if (img.error) {
      o.error = img.error->message;
      print_error("sync", o.error);
    } else {
      o.digest = img.digest.str();
    }
    s.images.push_back(std::move(o));
  }
  if (exports) {
    // An image exported during the pull keeps its files even if the run failed it
    // afterwards (index.json not written): they hold what the registry served, verified.
    const auto exported = exports->finish(*report);
    for (size_t i = 0; i < exported.size() && i < s.images.size(); ++i) {
      const auto& e = exported[i];
      auto& o = s.images[i];
      o.exported = e.written;
      for (const auto& n : e.files) o.export_file += (o.export_file.empty() ? "" : ",") + n;
      if (!e.error.empty()) {
        o.error = (o.error.empty() ? "" : o.error + "; ") + "export: " + e.error;
        print_error("sync", fmt::format("{}: export: {}", o.reference, e.error));
      }
    }
  }
  if (set) {
    if (auto st = set->commit(); !st) {
      spdlog::error("export directory {}: {}", l.export_dir, st.error().message);
      export_failed = true;
    } else if (set->unchanged()) {
      spdlog::info("export set {} unchanged: nothing to switch", l.export_dir);
    }
  }
  if (l.w.mirror_to && !engine.cancelled()) {
    // The deadline is the run's: the push to mirror_to gets what the pull and the
    // export left of it (none left: every image to push fails saying so).
    if (opts.deadline) {
      const auto used =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - run_started);
      push_opts.deadline = std::max(std::chrono::milliseconds(0), *opts.deadline - used);
      push_opts.deadline_text = opts.deadline_text;
    }
    mirror_images(*l.w.mirror_to, *store, *report, push_opts, engine, s);
  }
  s.seconds += report->seconds;
  s.finished = std::chrono::system_clock::now();
  s.last_success = s.failed() == 0 ? std::chrono::duration_cast<std::chrono::seconds>(s.finished.time_since_epoch()).count()
                                   : read_last_success(*store);
  if (auto st = write_last_run(*store, s); !st) spdlog::error("last-run.json: {}", st.error().message);
  if (!a.metrics.empty()) {
    if (auto st = write_metrics(a.metrics, s); !st) spdlog::error("metrics: {}", st.error().message);
  }
  print_summary(s);
  return s.failed() == 0 && !export_failed ? kExitOk : kExitSomeFailed;
}

std::chrono::system_clock::time_point next_run(const config::Schedule& sched, std::chrono::system_clock::time_point now) {
  if (sched.kind == config::Schedule::Kind::Interval) return now + sched.interval;
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&t, &local);
  local.tm_hour = sched.hour;
  local.tm_min = sched.minute;
  local.tm_sec = 0;
  auto when = std::chrono::system_clock::from_time_t(std::mktime(&local));
  if (when <= now) {
    local.tm_mday += 1;
    local.tm_isdst = -1;
    when = std::chrono::system_clock::from_time_t(std::mktime(&local));
  }
  return when;
}

void on_hup(int) { g_reload.store(true); }

int run_daemon(Loaded l, const SyncArgs& a, http::Engine& engine) {
  std::signal(SIGHUP, on_hup);
  if (l.w.schedule.kind == config::Schedule::Kind::None) {
    return usage_error("sync", l.w.source.string() + ": no schedule; add `schedule:` or use --once");
  }
  spdlog::info("daemon started watchlist={} schedule={}", l.w.source.string(), l.w.schedule.str());
  for (;;) {
    auto when = next_run(l.w.schedule, std::chrono::system_clock::now());
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
      when = next_run(l.w.schedule, std::chrono::system_clock::now());
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
