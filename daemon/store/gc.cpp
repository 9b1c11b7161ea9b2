// gc: mark from the kept references, rewrite index.json, sweep blobs and old partials.
//
// Everything that can fail without harm happens first (reading index.json, the
// mark, listing the candidates); only then does the store change, in an order a
// crash cannot hurt: index.json loses its dropped entries before any blob goes, so
// the index never names a deleted blob, and an interrupted sweep only leaves
// garbage for the next run.
#include "store/gc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/fs_util.h"

namespace ferry::store {

namespace {

constexpr uint64_t kMaxLastPullsSize = 64 << 20;  // same bound as the pull that writes it

// Every digest reachable from `kept`; fails on a kept manifest that is missing or
// unparsable, since its children cannot be marked.
core::Result<std::set<digest::Digest>> mark(const Store& store, const std::vector<IndexEntry>& kept) {
  std::set<digest::Digest> marked;
  for (const auto& entry : kept) {
    Reach reached = reach(store, entry);
    if (!reached.problems.empty()) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("gc aborted, nothing deleted: {}", reached.problems.front()));
    }
    for (const auto& b : reached.blobs) {
      if (b.role == ReachedBlob::Role::Manifest && b.required && !store.has_blob(b.descriptor.digest)) {
        return core::fail(core::ErrorKind::NotFound,
                          fmt::format("gc aborted, nothing deleted: {}: manifest {} is missing from {}", b.via,
                                      b.descriptor.digest.str(), store.blob_path(b.descriptor.digest).string()));
      }
      marked.insert(b.descriptor.digest);
    }
  }
  return marked;
}

// Files in blobs/sha256 named by a digest that is not marked, by digest.
core::Result<std::vector<RemovedBlob>> unmarked_blobs(const Store& store, const std::set<digest::Digest>& marked) {
  auto entries = store.list(Area::Blobs);
  if (!entries) return core::fail(entries.error());
  std::vector<RemovedBlob> out;
  for (const auto& e : *entries) {
    auto d = digest::Digest::parse(std::string(digest::Digest::kSha256Prefix) + e.name);
    if (!d || marked.contains(*d)) continue;  // a badly named file is not ours to delete
    if (e.type != DirEntry::Type::Regular) continue;
    out.push_back({*d, e.size});
  }
  std::sort(out.begin(), out.end(), [](const RemovedBlob& a, const RemovedBlob& b) { return a.digest < b.digest; });
  return out;
}

// Remove the state/last-pulls.json records of references not kept. A missing or
// unreadable file is left as it is: pull treats it as "no record".
core::Status prune_last_pulls(const Store& store, const std::set<std::string>& keep_refs) {
  auto text = store.read_file(Area::State, "last-pulls.json", kMaxLastPullsSize);
  if (!text) return text.error().kind == core::ErrorKind::NotFound ? core::Status{} : core::fail(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {};
  nlohmann::json kept = nlohmann::json::object();
  for (const auto& [ref, record] : j.items()) {
    if (keep_refs.contains(ref)) kept[ref] = record;
  }
  if (kept.size() == j.size()) return {};
  return store.write_file(Area::State, "last-pulls.json", kept.dump(2) + "\n");
}

// The sweep proper: blobs, then partials, each directory fsynced once.
core::Status remove_all(const Store& store, const GcReport& r) {
  for (const auto& b : r.removed_blobs) {
    if (auto st = store.remove_file(Area::Blobs, b.digest.hex()); !st) return st;
  }
  if (!r.removed_blobs.empty()) {
    if (auto st = store.sync(Area::Blobs); !st) return st;
  }
  for (const auto& p : r.removed_partials) {
    if (auto st = store.remove_file(Area::Ingest, p.path.filename().string()); !st) return st;
    fs::path record = p.path.filename();
    // a segmented partial's record, if any
    if (auto st = store.remove_file(Area::Ingest, record.replace_extension(".segments").string()); !st) return st;
  }
  for (const auto& p : r.removed_records) {
    if (auto st = store.remove_file(Area::Ingest, p.filename().string()); !st) return st;
  }
  if (!r.removed_partials.empty() || !r.removed_records.empty()) return store.sync(Area::Ingest);
  return {};
}

// What would go: fills the report from index.json and the store's files; changes nothing.
core::Result<std::vector<IndexEntry>> plan(const Store& store, const std::set<std::string>& keep_refs,
                                           const GcOptions& opts, GcReport& r) {
  auto entries = store.read_index();
  if (!entries) return core::fail(entries.error().context("gc aborted, nothing deleted"));
  std::vector<IndexEntry> kept;
  for (auto& e : *entries) {
    if (keep_refs.contains(e.ref_name)) {
      kept.push_back(std::move(e));
    } else if (std::find(r.dropped_refs.begin(), r.dropped_refs.end(), e.ref_name) == r.dropped_refs.end()) {
      r.dropped_refs.push_back(e.ref_name);
    }
  }
  auto marked = mark(store, kept);
  if (!marked) return core::fail(marked.error());
  auto unmarked = unmarked_blobs(store, *marked);
  if (!unmarked) return core::fail(unmarked.error());
  auto partials = list_partials(store);
  if (!partials) return core::fail(partials.error());
  auto orphans = orphan_segment_records(store);
  if (!orphans) return core::fail(orphans.error());
  r.removed_records = std::move(*orphans);
  r.kept_entries = kept.size();
  r.marked_blobs = marked->size();
  r.removed_blobs = std::move(*unmarked);
  for (const auto& b : r.removed_blobs) r.bytes_freed += b.size;
  for (auto& p : *partials) {
    if (opts.now - p.modified <= opts.partial_max_age) continue;
    r.partial_bytes_freed += p.size;
    r.removed_partials.push_back(std::move(p));
  }
  return kept;
}

}  // namespace

core::Result<GcReport> gc(Store& store, const std::set<std::string>& keep, const GcOptions& opts) {
  GcReport r;
  r.dry_run = opts.dry_run;
  // A referrer (signature, SBOM, attestation) is kept while its subject is.
  std::set<std::string> keep_refs = keep;
  if (auto entries = store.read_index()) {
    for (const auto& e : *entries) {
      if (keep.contains(referrer_of(e.descriptor))) keep_refs.insert(e.ref_name);
    }
  }
  auto kept = plan(store, keep_refs, opts, r);
  if (!kept) return core::fail(kept.error());
  if (opts.dry_run) return r;
  if (!r.dropped_refs.empty()) {
    if (auto st = store.replace_index(*kept); !st) return core::fail(st.error().context("gc: index.json"));
  }
  if (auto st = prune_last_pulls(store, keep_refs); !st) return core::fail(st.error().context("gc"));
  if (auto st = remove_all(store, r); !st) return core::fail(st.error().context("gc"));
  return r;
}

}  // namespace ferry::store
