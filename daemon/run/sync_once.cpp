// One sync run of a watchlist (run/sync_once.h): pull, export set, mirror_to, records.
#include "run/sync_once.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "airgap/export_set.h"
#include "airgap/sync_export.h"
#include "push/push.h"
#include "store/lock.h"
#include "store/store.h"
#include "sync/export_names.h"
#include "sync/pull.h"

namespace ferry::run {

namespace {

std::vector<sync::PullTarget> targets_of(const config::Watchlist& w) {
  std::vector<sync::PullTarget> targets;
  for (const auto& e : w.images) {
    auto platforms = config::platforms_for(w, e);
    targets.push_back({e.ref, platforms, e.all_platforms || platforms.empty(), e.referrers});
  }
  return targets;
}

sync::PullOptions pull_options(const config::Watchlist& w, const SyncOnceOptions& o) {
  sync::PullOptions opts;
  opts.concurrency = w.concurrency;
  opts.segments = w.segments;
  opts.fetch_foreign = w.fetch_foreign;
  opts.registry_options = o.registry_options;
  if (w.retry.deadline) {
    opts.deadline = *w.retry.deadline;
    opts.deadline_text = config::format_duration(*w.retry.deadline);
  }
  opts.skip_unchanged = true;
  opts.progress = o.progress;
  return opts;
}

// The pull's outcome of each image, in watchlist order.
void record_pull(const sync::PullReport& report, SyncOnce& run) {
  run.summary.requests = report.requests;
  run.summary.bytes = report.bytes_fetched;
  for (const auto& img : report.images) {
    ImageOutcome o;
    o.reference = img.ref.str();
    o.changed = img.changed;
    o.bytes = img.bytes_fetched;
    o.seconds = img.seconds;
    if (img.error) {
      o.error = img.error->message;
      run.errors.push_back(o.error);
    } else {
      o.digest = img.digest.str();
    }
    run.summary.images.push_back(std::move(o));
  }
}

// An image exported during the pull keeps its files even if the run failed it
// afterwards (index.json not written): they hold what the registry served, verified.
void record_exports(const std::vector<airgap::ImageExport>& exported, SyncOnce& run) {
  for (size_t i = 0; i < exported.size() && i < run.summary.images.size(); ++i) {
    const auto& e = exported[i];
    auto& o = run.summary.images[i];
    o.exported = e.written;
    for (const auto& n : e.files) o.export_file += (o.export_file.empty() ? "" : ",") + n;
    if (!e.error.empty()) {
      o.error = (o.error.empty() ? "" : o.error + "; ") + "export: " + e.error;
      run.errors.push_back(fmt::format("{}: export: {}", o.reference, e.error));
    }
  }
}

struct MirrorItems {
  std::vector<push::PushItem> items;
  std::vector<size_t> outcome_of;  // item -> index in the summary's images
};

// What goes to mirror_to: each image the run mirrored (not failed), with its
// referrers (a failed referrer fails its subject's outcome).
core::Status mirror_items(const config::MirrorTarget& target, const store::Store& store,
                          const sync::PullReport& report, SyncOnce& run, MirrorItems& m) {
  for (size_t i = 0; i < report.images.size(); ++i) {
    const auto& img = report.images[i];
    if (img.error || !run.summary.images[i].error.empty()) continue;
    auto dest = push::map_destination(img.ref, target.str());
    if (!dest) {
      run.summary.images[i].error = "push: " + dest.error().message;
      continue;
    }
    m.items.push_back({img.ref.str(), img.entries, *dest, {}});
    m.outcome_of.push_back(i);
  }
  if (std::none_of(report.images.begin(), report.images.end(), [](const auto& im) { return !im.referrers.empty(); })) {
    return {};
  }
  auto all = push::store_items(store);
  if (!all) return core::fail(all.error());
  const size_t subjects = m.items.size();
  for (size_t k = 0; k < subjects; ++k) {
    for (const auto& ref : report.images[m.outcome_of[k]].referrers) {
      auto it = std::find_if(all->begin(), all->end(), [&](const auto& a) { return a.source == ref.str(); });
      if (it == all->end()) continue;
      push::PushItem item = *it;
      item.destination = push::referrer_destination(m.items[k].destination, ref);
      m.items.push_back(std::move(item));
      m.outcome_of.push_back(m.outcome_of[k]);
    }
  }
  return {};
}

void record_push(const push::PushReport& pushed, const MirrorItems& m, SyncOnce& run) {
  run.summary.requests += pushed.requests;
  run.summary.pushed_bytes += pushed.bytes_uploaded;
  run.summary.seconds += pushed.seconds;
  for (size_t k = 0; k < pushed.images.size(); ++k) {
    const auto& p = pushed.images[k];
    auto& o = run.summary.images[m.outcome_of[k]];
    if (!p.error && !o.pushed_to.empty()) continue;  // a referrer pushed: its subject's line stands
    if (!o.pushed_to.empty() && p.error) {
      o.error = "push referrer " + p.source + ": " + p.error->message;
      run.errors.push_back(o.error);
      continue;
    }
    o.pushed_to = p.destination.str();
    o.push_current = p.unchanged;
    o.pushed_bytes = p.bytes_uploaded;
    if (p.error) {
      o.error = p.error->message;
      run.errors.push_back(o.error);
    }
  }
}

// Push every image this run mirrored to mirror_to (a HEAD on the destination tag
// makes an image already there cost one request).
void mirror(const config::MirrorTarget& target, const store::Store& store, const sync::PullReport& report,
            const push::PushOptions& opts, const SyncOnceOptions& o, http::Engine& engine, SyncOnce& run) {
  MirrorItems m;
  if (auto st = mirror_items(target, store, report, run, m); !st) {
    for (size_t i : m.outcome_of) run.summary.images[i].error = "push: " + st.error().message;
    return;
  }
  if (m.items.empty()) return;
  run.summary.mirrored = true;
  spdlog::info("mirroring images={} to={}", m.items.size(), target.str());
  auto pushed = push::push(store, m.items, opts, engine);
  if (o.progress_done) o.progress_done();
  if (!pushed) {
    for (size_t i : m.outcome_of) run.summary.images[i].error = "push: " + pushed.error().message;
    return;
  }
  record_push(*pushed, m, run);
}

push::PushOptions push_options(const config::Watchlist& w, const SyncOnceOptions& o,
                               const sync::PullOptions& pulled, std::chrono::milliseconds used) {
  push::PushOptions opts;
  opts.concurrency = w.concurrency;
  opts.registry_options = o.registry_options;
  opts.progress = o.progress;
  // The deadline is the run's: the push gets what the pull and the export left of it
  // (none left: every image to push fails saying so).
  if (pulled.deadline) {
    opts.deadline = std::max(std::chrono::milliseconds(0), *pulled.deadline - used);
    opts.deadline_text = pulled.deadline_text;
  }
  return opts;
}

void write_records(const store::Store& store, const SyncOnceOptions& o, RunSummary& s) {
  s.finished = std::chrono::system_clock::now();
  s.last_success = s.failed() == 0 ? std::chrono::duration_cast<std::chrono::seconds>(s.finished.time_since_epoch()).count()
                                   : read_last_success(store);
  if (auto st = write_last_run(store, s); !st) spdlog::error("last-run.json: {}", st.error().message);
  if (!o.metrics.empty()) {
    if (auto st = write_metrics(o.metrics, s); !st) spdlog::error("metrics: {}", st.error().message);
  }
}

std::optional<airgap::ExportSetBuilder> begin_set(const std::filesystem::path& dir, SyncOnce& run) {
  if (dir.empty()) return std::nullopt;
  auto begun = airgap::ExportSetBuilder::begin(dir);
  if (begun) return std::move(*begun);
  spdlog::error("export directory {}: {}; tarballs will not be written", dir.string(), begun.error().message);
  run.export_failed = true;
  return std::nullopt;
}

void commit_set(airgap::ExportSetBuilder& set, const std::filesystem::path& dir, SyncOnce& run) {
  if (auto st = set.commit(); !st) {
    spdlog::error("export directory {}: {}", dir.string(), st.error().message);
    run.export_failed = true;
  } else if (set.unchanged()) {
    spdlog::info("export set {} unchanged: nothing to switch", dir.string());
  }
}

}  // namespace

core::Result<SyncOnce> sync_once(const config::Watchlist& w, const SyncOnceOptions& o, http::Engine& engine) {
  auto store = store::Store::open(o.store, true);
  if (!store) return core::fail(store.error());
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return core::fail(lock.error());
  SyncOnce run;
  const auto targets = targets_of(w);
  auto opts = pull_options(w, o);
  auto set = begin_set(o.export_dir, run);
  std::vector<reference::Reference> refs;
  for (const auto& t : targets) refs.push_back(t.ref);
  const sync::ExportNames names(refs);  // decided before anything is written
  std::optional<airgap::SyncExport> exports;
  if (set) {
    exports.emplace(*store, *set, names, targets.size(), engine.executor());
    opts.on_image_ready = [&exports](size_t i, const sync::PulledImage& img,
                                     const std::vector<digest::Digest>& fetched) { exports->ready(i, img, fetched); };
  }
  spdlog::info("sync started watchlist={} images={} store={}", w.source.string(), targets.size(), o.store.string());
  const auto started = engine.clock().now();
  auto report = sync::pull(*store, targets, opts, engine);
  if (o.progress_done) o.progress_done();
  if (!report) {
    if (exports) exports->abandon();
    return core::fail(report.error());
  }
  record_pull(*report, run);
  if (exports) record_exports(exports->finish(*report), run);
  if (set) commit_set(*set, o.export_dir, run);
  if (w.mirror_to && !engine.cancelled()) {
    const auto used = std::chrono::duration_cast<std::chrono::milliseconds>(engine.clock().now() - started);
    mirror(*w.mirror_to, *store, *report, push_options(w, o, opts, used), o, engine, run);
  }
  run.summary.seconds += report->seconds;
  write_records(*store, o, run.summary);
  return run;
}

}  // namespace ferry::run
