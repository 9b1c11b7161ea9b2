// `ferry export`: (re)write the export set from the store, without network.
//
//   ferry export [-c FILE] [--store DIR] [-o DIR] [--format docker|oci-archive|both] [REF...]
//   ferry export [-c FILE] [--store DIR] --bundle FILE.tar [--since RECEIPT] [REF...]
//
// The images are the watchlist's (-c) or, without one, every reference in the
// store's index.json; REFs restrict them. The export directory is replaced as one
// set (see airgap/export_set.h); with REFs only their files are rewritten and the
// other references' files are kept from the current set. --bundle writes one
// docker-load tarball of every image instead (each blob once; all platforms in
// index.json, the host's in manifest.json); --since leaves out the layers a
// receipt of the other side lists (manifests and configs stay). Exit codes: 0 written,
// 1 an image could not be exported (nothing switched), 2 usage, watchlist error or
// a REF that is neither in the watchlist nor in the store.
#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "airgap/bundle.h"
#include "airgap/export_files.h"
#include "cli/commands.h"
#include "config/config.h"
#include "core/executor.h"
#include "airgap/export_set.h"
#include "store/fs_util.h"
#include "store/lock.h"
#include "store/receipt.h"
#include "store/store.h"
#include "sync/export_names.h"

namespace ferry::cli {

namespace fs = std::filesystem;

void add_export_options(CLI::App& cmd, ExportArgs& a) {
  cmd.add_option("-c,--config", a.config, "watchlist: its images (and store/export) are used");
  cmd.add_option("--store", a.store, "store directory (default: the watchlist's, else ~/.local/share/ferry/store)");
  cmd.add_option("-o,--output", a.output, "export directory (default: the watchlist's export:)");
  cmd.add_option("--format", a.format, "docker (docker-load tarballs), oci-archive, or both")
      ->check(CLI::IsMember({"docker", "oci-archive", "both"}))
      ->capture_default_str();
  cmd.add_option("--bundle", a.bundle, "write every image into this one docker-load tarball instead");
  cmd.add_option("--since", a.since, "with --bundle: leave out the layers this receipt lists (a delta bundle)");
  cmd.add_flag("--keep-zstd", a.keep_zstd,
               "docker tarballs: write zstd layers as fetched (default: as plain tars, which Docker before 23 needs)");
  cmd.add_option("refs", a.refs, "only these references (default: all)");
}

namespace {

int usage(std::string_view message) { return usage_error("export", message); }
int failed(std::string_view message) { return run_failed("export", message); }

struct Selected {
  reference::Reference ref;
  std::vector<manifest::Descriptor> entries;
};

// --bundle [--since RECEIPT]: every selected image in one tarball.
int write_bundle(const ExportArgs& a, const store::Store& store, const std::vector<Selected>& selected) {
  airgap::BundleOptions opts;
  opts.keep_zstd = a.keep_zstd;
  if (!a.since.empty()) {
    auto receipt = store::read_receipt(a.since);
    if (!receipt) return usage(receipt.error().message);
    opts.omit_layers = std::move(receipt->blobs);
    opts.since = receipt->file_sha256->str();  // names the receipt the bundle is a delta against
  }
  std::vector<airgap::BundleReference> refs;
  for (const auto& s : selected) refs.push_back({s.ref, s.entries});
  auto report = airgap::write_bundle(store, refs, a.bundle, opts);
  if (!report) return failed(report.error().message);
  for (const auto& n : report->notes) spdlog::debug("bundle {}", n);
  if (auto st = check_output(a.bundle, "docker"); !st) {
    discard_output(a.bundle);
    return failed(st.error().message);
  }
  std::error_code ec;
  auto size = fs::file_size(a.bundle, ec);
  fmt::print("bundle {}: {} references, {} images, {} bytes{}\n", a.bundle, report->references, report->images,
             ec ? 0 : size,
             a.since.empty() ? "" : fmt::format(" (delta since {}: layers the receipt lists left out)", a.since));
  return kExitOk;
}

}  // namespace

int run_export(const ExportArgs& a, core::Executor& executor) {
  std::string store_dir = a.store;
  std::string out_dir = a.output;
  std::vector<reference::Reference> wanted;  // in order; empty: every reference of the store
  if (!a.config.empty()) {
    auto w = config::load(a.config);
    if (!w) return usage(w.error().message);
    if (store_dir.empty()) store_dir = w->store;
    if (out_dir.empty()) out_dir = w->export_dir;
    for (const auto& e : w->images) wanted.push_back(e.ref);
  }
  if (store_dir.empty()) store_dir = default_store_dir();
  if (!a.since.empty() && a.bundle.empty()) return usage("--since needs --bundle FILE.tar");
  if (!a.bundle.empty() && a.format != "docker") return usage("--bundle writes a docker-load tarball; drop --format");
  if (out_dir.empty() && a.bundle.empty()) {
    return usage("no export directory: give -o DIR (or `export:` in the watchlist)");
  }
  std::vector<reference::Reference> only;
  for (const auto& text : a.refs) {
    auto r = reference::parse(text);
    if (!r) return usage(r.error().message);
    only.push_back(*r);
  }

  auto store = store::Store::open(store_dir, false);
  if (!store) return failed(store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock && lock.error().kind == core::ErrorKind::Unavailable) {
    return failed(lock.error().message);
  }
  auto index = store->read_index();
  if (!index) return failed(index.error().message);
  const auto by_ref = store::group_by_reference(*index);
  if (a.config.empty()) {
    for (const auto& g : by_ref) {
      if (!g.referrer_of.empty()) continue;  // a referrer goes with its subject
      auto r = reference::parse(g.ref_name);
      if (r) wanted.push_back(*r);
    }
  }
  std::set<std::string> known;
  for (const auto& r : wanted) known.insert(r.str());
  for (const auto& r : only) {
    if (!known.contains(r.str())) {
      return usage(fmt::format("{} is not {}", r.str(),
                               a.config.empty() ? "in the store " + store_dir : "in the watchlist " + a.config));
    }
  }
  std::vector<Selected> selected;
  for (const auto& r : wanted) {
    bool listed = only.empty() || std::any_of(only.begin(), only.end(), [&](const auto& o) { return o == r; });
    if (!listed) continue;
    auto it = std::find_if(by_ref.begin(), by_ref.end(), [&](const auto& g) { return g.ref_name == r.str(); });
    if (it == by_ref.end()) {
      return failed(fmt::format("{} is not in the store {}; run ferry sync first", r.str(), store_dir));
    }
    selected.push_back({r, it->descriptors});
  }
  if (selected.empty()) return usage("nothing to export: the store holds no images");
  if (!a.bundle.empty()) {
    // A bundle carries each image's referrers (signatures, SBOMs, attestations) with it.
    const size_t subjects = selected.size();
    for (size_t i = 0; i < subjects; ++i) {
      for (const auto& name : store::referrers_of(by_ref, selected[i].ref.str())) {
        auto r = reference::parse(name);
        if (!r) return failed(fmt::format("index.json names referrer {}: {}", name, r.error().message));
        auto it = std::find_if(by_ref.begin(), by_ref.end(), [&](const auto& g) { return g.ref_name == name; });
        bool dup = std::any_of(selected.begin(), selected.end(), [&](const auto& s) { return s.ref == *r; });
        if (!dup) selected.push_back({*r, it->descriptors});
      }
    }
  }

  if (!a.bundle.empty()) return write_bundle(a, *store, selected);

  airgap::ExportFormats formats{a.format != "oci-archive", a.format != "docker", a.keep_zstd};
  auto set = airgap::ExportSetBuilder::begin(out_dir);
  if (!set) return failed(set.error().message);
  std::set<std::string> exported;
  const sync::ExportNames names(wanted);  // every reference of the set, exported now or carried
  std::vector<core::Result<airgap::ExportedFiles>> results(selected.size(), core::fail(core::ErrorKind::Internal, "not run"));
  executor.parallel_for(selected.size(), [&](size_t i) {
    results[i] = airgap::export_reference(*store, *set, selected[i].ref, selected[i].entries, formats, true, names);
  });
  for (size_t i = 0; i < selected.size(); ++i) {
    const auto& s = selected[i];
    if (!results[i]) return failed(fmt::format("{}: {}", s.ref.str(), results[i].error().message));
    exported.insert(s.ref.str());
    for (const auto& n : results[i]->names) fmt::print("wrote {}  {}\n", n, s.ref.str());
  }
  if (!only.empty()) {  // the other references keep their files
    for (const auto& r : wanted) {
      if (exported.contains(r.str())) continue;
      if (auto kept = airgap::carry_reference(*set, r.str()); !kept) return failed(kept.error().message);
    }
  }
  if (auto st = set->commit(); !st) return failed(st.error().message);
  if (set->unchanged()) spdlog::info("export set {} unchanged: its files were already these", out_dir);
  fmt::print("export {}: {} files, CONTENTS.json and SHA256SUMS\n", out_dir, set->files().size());
  return kExitOk;
}

}  // namespace ferry::cli
