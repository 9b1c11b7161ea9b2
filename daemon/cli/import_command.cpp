// `ferry import SRC [--store DIR] [--receipt OUT]`: images carried across an air
// gap into the store, without network.
//
// SRC is a bundle (full or delta, from `ferry export --bundle`), any docker-archive
// or oci-archive tarball (ferry's, docker save's, skopeo's; one without index.json
// gets a new OCI manifest per image), or an export directory (SHA256SUMS checked first, then
// every *.tar). Every tarball is checked whole before anything of it is imported;
// blobs enter the store only through its verified ingest; a delta bundle needs the
// layers it left out to be in the store already (each missing one is named).
// index.json gets the references last, once every blob is in. --receipt writes
// the blobs the store now holds, for `ferry export --since` on the online side.
// Exit codes: 0 imported, 1 something did not verify or is missing (the store
// then holds at most verified blobs, no new references), 2 usage.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "export/archive_check.h"
#include "export/archive_import.h"
#include "export/export_set.h"
#include "store/lock.h"
#include "store/receipt.h"
#include "store/store.h"

namespace ferry::cli {

namespace fs = std::filesystem;

void add_import_options(CLI::App& cmd, ImportArgs& a) {
  cmd.add_option("source", a.source, "bundle, tarball or export directory")->required();
  cmd.add_option("--store", a.store, "store directory (default ~/.local/share/ferry/store)");
  cmd.add_option("--receipt", a.receipt, "afterwards, write the blobs the store holds here (for ferry export --since)");
}

namespace {

struct Checked {
  exporter::ArchiveScan scan;
  exporter::ArchiveReport report;
};

core::Error import_error(std::string message) {
  return core::Error{core::ErrorKind::InvalidInput, std::move(message), 0, {}, std::nullopt};
}

}  // namespace

core::Result<std::vector<std::string>> import_source(const fs::path& src, store::Store& store) {
  std::error_code ec;
  if (!fs::exists(src, ec)) return core::fail(core::ErrorKind::NotFound, src.string() + ": no such file or directory");
  std::vector<fs::path> tars;
  if (fs::is_directory(src, ec)) {
    auto problems = exporter::check_sums(src);
    for (const auto& p : problems) print_error("import", fmt::format("{}: {}", src.string(), p));
    if (!problems.empty()) return core::fail(import_error(fmt::format("{}: SHA256SUMS does not hold; nothing imported", src.string())));
    auto listed = exporter::list_tarballs(src);
    if (!listed) return core::fail(std::move(listed.error()));
    tars = std::move(*listed);
  } else {
    tars.push_back(src);
  }

  // Check everything first: one bad file imports nothing.
  std::vector<Checked> checked;
  for (const auto& t : tars) {
    auto scan = exporter::ArchiveScan::scan(t);
    if (!scan) return core::fail(scan.error());
    auto report = exporter::check_archive(*scan);
    if (!report.ok()) {
      for (const auto& p : report.problem_lines()) print_error("import", fmt::format("{}: {}", t.string(), p));
      return core::fail(import_error(fmt::format("{} does not verify; nothing imported", t.string())));
    }
    checked.push_back({std::move(*scan), std::move(report)});
  }

  for (const auto& c : checked) {  // before any blob lands
    auto missing = exporter::missing_omitted(store, c.report);
    for (const auto& m : missing) {
      print_error("import",
                  fmt::format("{}: left out of the delta and not in the store: {}", c.scan.path().string(), m));
    }
    if (!missing.empty()) {
      return core::fail(import_error(fmt::format(
          "{}: {} layer{} missing from {} (import the full bundle or export from an older receipt); nothing imported",
          c.scan.path().string(), missing.size(), missing.size() == 1 ? "" : "s", store.root().string())));
    }
  }
  std::map<std::string, std::vector<manifest::Descriptor>> refs;
  size_t added = 0, present = 0;
  uint64_t bytes = 0;
  for (const auto& c : checked) {
    auto r = exporter::import_archive(store, c.scan, c.report);
    if (!r) return core::fail(r.error());
    added += r->blobs_added;
    present += r->blobs_present;
    bytes += r->bytes_added;
    for (auto& [ref, list] : r->references) {
      auto& all = refs[ref];
      for (auto& d : list) {
        if (std::none_of(all.begin(), all.end(), [&](const auto& x) { return x.digest == d.digest; })) all.push_back(d);
      }
    }
  }
  std::vector<store::IndexEntry> entries;
  std::vector<std::string> names;
  for (const auto& [ref, list] : refs) {
    for (const auto& d : list) entries.push_back({d, ref});
    names.push_back(ref);
    fmt::print("imported {} ({} manifest{})\n", ref, list.size(), list.size() == 1 ? "" : "s");
  }
  if (!entries.empty()) {
    if (auto st = store.upsert_index(entries); !st) return core::fail(st.error());
  }
  fmt::print("import: {}: {} tarball{}, {} blobs added ({} bytes), {} already present, {} references\n",
             src.string(), checked.size(), checked.size() == 1 ? "" : "s", added, bytes, present, refs.size());
  return names;
}

int run_import(const ImportArgs& a) {
  auto failed = [](const std::string& message) { return run_failed("import", message); };
  std::error_code ec;
  if (!fs::exists(a.source, ec)) return usage_error("import", a.source + ": no such file or directory");
  auto store = store::Store::open(a.store.empty() ? default_store_dir() : a.store, true);
  if (!store) return failed(store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return failed(lock.error().message);
  auto imported = import_source(a.source, *store);
  if (!imported) return failed(imported.error().message);
  if (!a.receipt.empty()) {
    auto receipt = store::receipt_of_store(*store);
    if (!receipt) return failed(receipt.error().message);
    if (auto st = store::write_receipt(a.receipt, *receipt); !st) return failed(st.error().message);
  }
  return kExitOk;
}

}  // namespace ferry::cli
