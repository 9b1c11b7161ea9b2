// `ferry verify [DIR|TAR] [--store DIR] [--receipt FILE]`: check an export
// directory, one tarball, or a store, and print one line per problem.
//
// Every layer is decompressed (gzip or zstd) in the read that hashes it and its
// uncompressed sha256 compared with its config's diff_id; the OK and summary lines
// say so. --quick hashes only (no decompression) and says "diff_ids not checked
// (--quick)"; plain layers are still checked, their digest being their diff_id.
//
// An export directory: SHA256SUMS first (a missing, changed or unlisted file is
// named), then every *.tar in it as a tarball. A tarball: its own consistency
// (export/archive_check.h), one line per image (OK or what is wrong). With
// --receipt, the blobs verified good are written as a receipt (store/receipt.h)
// for `ferry export --since` on the other side of the air gap.
//
// A store (--store, or no argument):
// Every blob is hashed against its name and every reference in index.json is
// followed down to its layers (see store/verify.h). Output on stdout: one line per
// problem, a line per partial download (kept for resuming, not a problem), and a
// summary. Exit codes: 0 consistent, 1 problems found or the store could not be
// checked, 2 usage error. The store lock is taken so that a running sync or gc is
// not mistaken for damage; a store whose lock file cannot be created (read-only)
// is checked without it.
#include <algorithm>
#include <chrono>
#include <set>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "export/archive_check.h"
#include "airgap/export_set.h"
#include "store/receipt.h"
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

void print_report(const store::Store& store, const store::VerifyReport& r, bool quick) {
  for (const auto& p : r.problems) fmt::print("{}\n", p.message);
  for (const auto& p : r.partials) {
    fmt::print("partial download {} ({} bytes, {} old; resumed by the next pull, not a problem)\n",
               p.path.string(), p.size, age(p.modified));
  }
  std::string layers = quick ? fmt::format("{} layers: diff_ids not checked (--quick)", r.layers)
                             : fmt::format("{} layers: digest, size and diff_id checked", r.diff_ids_checked);
  fmt::print("verify: {}: {} blobs ({} bytes), {} index.json entries, {} blobs referenced, {} unreferenced "
             "({} bytes; ferry gc removes them), {}, {} partial downloads: {}\n",
             store.root().string(), r.blobs, r.blob_bytes, r.index_entries, r.reachable, r.unreferenced,
             r.unreferenced_bytes, layers, r.partials.size(),
             r.ok() ? "consistent" : fmt::format("{} problem{}", r.problems.size(), r.problems.size() == 1 ? "" : "s"));
}

// Checks one tarball; prints a line per image and per archive problem. Returns
// the number of problems.
// What was checked of an image's layers, for its OK line.
std::string layers_checked(const exporter::ArchiveImage& img) {
  size_t n = img.layer_entries.size();
  size_t absent = std::count(img.layer_entries.begin(), img.layer_entries.end(), std::string());
  std::string text = fmt::format("{} layer{}: ", n, n == 1 ? "" : "s");
  if (img.diff_ids_unchecked > 0) {
    text += "digest and size checked, diff_ids not checked (--quick)";
  } else {
    text += "digest, size and diff_id checked";
  }
  if (absent > 0) text += fmt::format(", {} not in the archive (foreign or left out of a delta)", absent);
  return text;
}

size_t verify_tarball(const fs::path& tar, const std::string& label, bool quick, std::set<digest::Digest>& good) {
  auto scan = exporter::ArchiveScan::scan(tar, {.decode = !quick});
  if (!scan) {
    fmt::print("FAIL {}: {}\n", label, scan.error().message);
    return 1;
  }
  auto r = exporter::check_archive(*scan);
  for (const auto& img : r.images) {
    if (img.problems.empty()) fmt::print("OK   {}: {} ({}, {})\n", label, img.name, r.format, layers_checked(img));
  }
  const auto problems = r.problem_lines();
  for (const auto& p : problems) fmt::print("FAIL {}: {}\n", label, p);
  good.insert(r.good_blobs.begin(), r.good_blobs.end());
  return problems.size();
}

int finish(const VerifyArgs& a, const std::string& what, size_t files, size_t problems,
           const std::set<digest::Digest>& good) {
  fmt::print("verify: {}: {} tarball{}: {}{}\n", what, files, files == 1 ? "" : "s",
             problems == 0 ? "consistent" : fmt::format("{} problem{}", problems, problems == 1 ? "" : "s"),
             a.quick ? " (diff_ids of compressed layers not checked (--quick))" : "");
  if (!a.receipt.empty()) {
    store::Receipt receipt{"", what, good, std::nullopt};
    if (auto st = store::write_receipt(a.receipt, receipt); !st) {
      return run_failed("verify", "receipt: " + st.error().message);
    }
  }
  return problems == 0 ? kExitOk : kExitSomeFailed;
}

int verify_path(const VerifyArgs& a) {
  const fs::path target = a.target;
  std::error_code ec;
  std::set<digest::Digest> good;
  if (fs::is_directory(target, ec)) {
    size_t problems = 0, files = 0;
    for (const auto& p : airgap::check_sums(target)) {
      fmt::print("FAIL {}\n", p);
      ++problems;
    }
    auto tars = airgap::list_tarballs(target);
    if (!tars) return run_failed("verify", tars.error().message);
    for (const auto& t : *tars) {
      problems += verify_tarball(t, t.filename().string(), a.quick, good);
      ++files;
    }
    return finish(a, target.string(), files, problems, good);
  }
  if (!fs::exists(target, ec)) return usage_error("verify", target.string() + ": no such file or directory");
  size_t problems = verify_tarball(target, target.filename().string(), a.quick, good);
  return finish(a, target.string(), 1, problems, good);
}

}  // namespace

void add_verify_options(CLI::App& cmd, VerifyArgs& a) {
  cmd.add_option("target", a.target, "export directory or tarball to check (default: the store)");
  cmd.add_option("--store", a.store, "store directory to check (default ~/.local/share/ferry/store)");
  cmd.add_option("--receipt", a.receipt, "write the blobs verified good here (for ferry export --since)");
  cmd.add_flag("--quick", a.quick,
               "hashes and sizes only: do not decompress layers, so their diff_ids are not checked");
}

int run_verify(const VerifyArgs& a) {
  if (!a.target.empty() && !a.store.empty()) {
    return usage_error("verify", "give a directory/tarball or --store, not both");
  }
  if (!a.target.empty()) return verify_path(a);
  const fs::path dir = a.store.empty() ? default_store_dir() : a.store;
  if (!check_layout_files(dir)) return kExitSomeFailed;
  auto store = store::Store::open(dir, false);
  if (!store) return run_failed("verify", store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock && lock.error().kind == core::ErrorKind::Unavailable) {
    return run_failed("verify", lock.error().message);
  }
  store::VerifyOptions opts;
  opts.check_diff_ids = !a.quick;
  auto report = store::verify(*store, opts);
  if (!report) return run_failed("verify", report.error().message);
  print_report(*store, *report, a.quick);
  if (report->ok() && !a.receipt.empty()) {
    auto receipt = store::receipt_of_store(*store);
    auto st = receipt ? store::write_receipt(a.receipt, *receipt) : core::Status(core::fail(receipt.error()));
    if (!st) return run_failed("verify", "receipt: " + st.error().message);
  }
  return report->ok() ? kExitOk : kExitSomeFailed;
}

}  // namespace ferry::cli
