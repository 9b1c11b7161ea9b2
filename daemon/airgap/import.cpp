// import_source: see import.h.
#include "airgap/import.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "export/archive_check.h"
#include "airgap/archive_import.h"
#include "airgap/export_set.h"

namespace ferry::airgap {

namespace fs = std::filesystem;

namespace {

struct Checked {
  exporter::ArchiveScan scan;
  exporter::ArchiveReport report;
};

core::Error import_error(std::string message) { return core::error(core::ErrorKind::InvalidInput, std::move(message)); }

}  // namespace

std::vector<std::string> ImportReport::names() const {
  std::vector<std::string> out;
  for (const auto& r : references) out.push_back(r.reference);
  return out;
}

core::Result<ImportReport> import_source(const fs::path& src, store::Store& store, std::vector<std::string>& problems) {
  std::error_code ec;
  if (!fs::exists(src, ec)) return core::fail(core::ErrorKind::NotFound, src.string() + ": no such file or directory");
  std::vector<fs::path> tars;
  if (fs::is_directory(src, ec)) {
    auto sums = check_sums(src);
    for (const auto& p : sums) problems.push_back(fmt::format("{}: {}", src.string(), p));
    if (!sums.empty()) {
      return core::fail(import_error(fmt::format("{}: SHA256SUMS does not hold; nothing imported", src.string())));
    }
    auto listed = list_tarballs(src);
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
      for (const auto& p : report.problem_lines()) problems.push_back(fmt::format("{}: {}", t.string(), p));
      return core::fail(import_error(fmt::format("{} does not verify; nothing imported", t.string())));
    }
    checked.push_back({std::move(*scan), std::move(report)});
  }

  for (const auto& c : checked) {  // before any blob lands
    auto missing = missing_omitted(store, c.report);
    for (const auto& m : missing) {
      problems.push_back(fmt::format("{}: left out of the delta and not in the store: {}", c.scan.path().string(), m));
    }
    if (!missing.empty()) {
      return core::fail(import_error(fmt::format(
          "{}: {} layer{} missing from {} (import the full bundle or export from an older receipt); nothing imported",
          c.scan.path().string(), missing.size(), missing.size() == 1 ? "" : "s", store.root().string())));
    }
  }
  ImportReport out;
  out.tarballs = checked.size();
  std::map<std::string, std::vector<manifest::Descriptor>> refs;
  for (const auto& c : checked) {
    auto r = import_archive(store, c.scan, c.report);
    if (!r) return core::fail(r.error());
    out.blobs_added += r->blobs_added;
    out.blobs_present += r->blobs_present;
    out.bytes_added += r->bytes_added;
    for (auto& [ref, list] : r->references) {
      auto& all = refs[ref];
      for (auto& d : list) {
        if (std::none_of(all.begin(), all.end(), [&](const auto& x) { return x.digest == d.digest; })) all.push_back(d);
      }
    }
  }
  std::vector<store::IndexEntry> entries;
  for (const auto& [ref, list] : refs) {
    for (const auto& d : list) entries.push_back({d, ref});
    out.references.push_back({ref, list.size()});
  }
  if (!entries.empty()) {
    if (auto st = store.upsert_index(entries); !st) return core::fail(st.error());
  }
  return out;
}

}  // namespace ferry::airgap
