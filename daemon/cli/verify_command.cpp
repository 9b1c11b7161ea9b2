// `ferry verify --store DIR`: check a store and print one line per problem.
//
// Every blob is hashed against its name and every reference in index.json is
// followed down to its layers (see store/verify.h). Output on stdout: one line per
// problem, a line per partial download (kept for resuming, not a problem), and a
// summary. Exit codes: 0 consistent, 1 problems found or the store could not be
// checked, 2 usage error. The store lock is taken so that a running sync or gc is
// not mistaken for damage; a store whose lock file cannot be created (read-only)
// is checked without it. Room is left for a positional argument (an export bundle
// to check instead of a store); only stores are checked today.
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "store/lock.h"
#include "store/store.h"
#include "store/verify.h"

namespace ferry::cli {

namespace fs = std::filesystem;

namespace {

// Store::open would create these; a store without them is damaged, not new.
bool check_layout_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "oci-layout", ec)) return true;  // Store::open names the problem
  bool ok = true;
  for (const char* name : {"index.json", "blobs/sha256"}) {
    if (fs::exists(dir / name, ec)) continue;
    fmt::print("{}: missing\n", (dir / name).string());
    ok = false;
  }
  return ok;
}

std::string age(std::chrono::system_clock::time_point modified) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - modified).count();
  if (secs < 3600) return fmt::format("{}m", std::max<int64_t>(secs, 0) / 60);
  if (secs < 48 * 3600) return fmt::format("{}h", secs / 3600);
  return fmt::format("{}d", secs / 86400);
}

void print_report(const store::Store& store, const store::VerifyReport& r) {
  for (const auto& p : r.problems) fmt::print("{}\n", p.message);
  for (const auto& p : r.partials) {
    fmt::print("partial download {} ({} bytes, {} old; resumed by the next pull, not a problem)\n",
               p.path.string(), p.size, age(p.modified));
  }
  fmt::print("verify: {}: {} blobs ({} bytes), {} index.json entries, {} blobs referenced, {} unreferenced "
             "({} bytes; ferry gc removes them), {} partial downloads: {}\n",
             store.root().string(), r.blobs, r.blob_bytes, r.index_entries, r.reachable, r.unreferenced,
             r.unreferenced_bytes, r.partials.size(),
             r.ok() ? "consistent" : fmt::format("{} problem{}", r.problems.size(), r.problems.size() == 1 ? "" : "s"));
}

}  // namespace

void add_verify_options(CLI::App& cmd, VerifyArgs& a) {
  cmd.add_option("--store", a.store, "store directory to check (default ~/.local/share/ferry/store)");
}

int run_verify(const VerifyArgs& a) {
  const fs::path dir = a.store.empty() ? default_store_dir() : a.store;
  if (!check_layout_files(dir)) return kExitSomeFailed;
  auto store = store::Store::open(dir, false);
  if (!store) return fmt::print(stderr, "ferry: {}\n", store.error().message), kExitSomeFailed;
  auto lock = store::StoreLock::acquire(store->root());
  if (!lock && lock.error().kind == core::ErrorKind::Unavailable) {
    return fmt::print(stderr, "ferry: {}\n", lock.error().message), kExitSomeFailed;
  }
  auto report = store::verify(*store);
  if (!report) return fmt::print(stderr, "ferry: verify: {}\n", report.error().message), kExitSomeFailed;
  print_report(*store, *report);
  return report->ok() ? kExitOk : kExitSomeFailed;
}

}  // namespace ferry::cli
