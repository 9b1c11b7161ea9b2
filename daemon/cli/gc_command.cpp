// `ferry gc -c FILE [--store DIR] [--dry-run]`: drop what the watchlist no longer names.
//
// The references kept are the watchlist's images, exactly as sync records them in
// index.json. Under the store lock, gc drops the other index.json entries and
// deletes the blobs only they used and the partial downloads older than a day,
// then prints one line per reference dropped, blob and partial removed, and a
// summary. --dry-run prints the same lines ("would ...") and deletes nothing.
// Exit codes: 0 done, 1 gc refused or failed (lock held, kept image incomplete),
// 2 usage or watchlist error.
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "config/config.h"
#include "store/gc.h"
#include "store/lock.h"
#include "store/store.h"

namespace ferry::cli {

namespace fs = std::filesystem;

namespace {

// "1.5 MB" style; exact bytes are printed beside it where they matter.
std::string human_bytes(uint64_t n) {
  constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(kUnits)) v /= 1000, ++u;
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, kUnits[u]);
}

void print_report(const store::Store& store, const store::GcReport& r) {
  const char* verb = r.dry_run ? "would " : "";
  for (const auto& ref : r.dropped_refs) fmt::print("{}drop    {}\n", verb, ref.empty() ? "(unnamed entry)" : ref);
  for (const auto& b : r.removed_blobs) fmt::print("{}remove  {} ({} bytes)\n", verb, b.digest.str(), b.size);
  for (const auto& p : r.removed_partials) {
    fmt::print("{}remove  {} ({} bytes, partial download)\n", verb, p.path.string(), p.size);
  }
  for (const auto& p : r.removed_records) {
    fmt::print("{}remove  {} (segment record without its partial download)\n", verb, p.string());
  }
  fmt::print("gc{}: {}: kept {} reference entries ({} blobs); {} {} references, {} blobs ({}, {} bytes), "
             "{} partial downloads ({} bytes)\n",
             r.dry_run ? " (dry run, nothing deleted)" : "", store.root().string(), r.kept_entries, r.marked_blobs,
             r.dry_run ? "would drop" : "dropped", r.dropped_refs.size(), r.removed_blobs.size(),
             human_bytes(r.bytes_freed), r.bytes_freed, r.removed_partials.size(), r.partial_bytes_freed);
}

}  // namespace

void add_gc_options(CLI::App& cmd, GcArgs& a) {
  cmd.add_option("-c,--config", a.config, "watchlist file: its images are the references kept")
      ->capture_default_str();
  cmd.add_option("--store", a.store, "store directory (overrides the watchlist's)");
  cmd.add_flag("--dry-run", a.dry_run, "print what would be removed, remove nothing");
}

int run_gc(const GcArgs& a) {
  auto w = config::load(a.config);
  if (!w) return usage_error("gc", w.error().message);
  const std::string dir = !a.store.empty() ? a.store : !w->store.empty() ? w->store : default_store_dir();
  // Store::open would recreate a lost index.json empty, and every blob would look unused.
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "oci-layout", ec) && !fs::exists(fs::path(dir) / "index.json", ec)) {
    return run_failed("gc", dir + "/index.json is missing; gc refused, nothing deleted");
  }
  auto store = store::Store::open(dir, false);
  if (!store) return run_failed("gc", store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return run_failed("gc", lock.error().message);
  std::set<std::string> keep;
  for (const auto& e : w->images) keep.insert(e.ref.str());
  store::GcOptions opts;
  opts.dry_run = a.dry_run;
  auto report = store::gc(*store, keep, opts);
  if (!report) return run_failed("gc", report.error().message);
  print_report(*store, *report);
  return kExitOk;
}

}  // namespace ferry::cli
