// gc: drop the references nobody wants any more and free the blobs only they used.
//
// Mark and sweep. Mark: every blob reachable from the index.json entries whose
// reference is kept (manifests, index children, configs, layers). Then index.json
// is rewritten without the other entries (one atomic rewrite), their
// state/last-pulls.json records are dropped, every unmarked blob in blobs/sha256 is
// deleted, and so is every ingest/*.partial older than partial_max_age. A kept
// manifest that is missing or cannot be parsed aborts the run before anything
// changes: sweeping on an incomplete mark deletes blobs still in use. Files in
// blobs/sha256 that are not named by a digest are never touched.
// The caller holds the store lock (StoreLock) for the whole run.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "store/store.h"
#include "store/verify.h"

namespace ferry::store {

struct GcOptions {
  bool dry_run = false;  // report what would go, change nothing
  std::chrono::seconds partial_max_age{24 * 3600};
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

struct RemovedBlob {
  digest::Digest digest;
  uint64_t size = 0;
};

struct GcReport {
  std::vector<std::string> dropped_refs;  // references whose index.json entries went
  size_t kept_entries = 0;
  size_t marked_blobs = 0;                // distinct digests reachable from kept entries
  std::vector<RemovedBlob> removed_blobs;
  uint64_t bytes_freed = 0;               // blobs only
  std::vector<PartialFile> removed_partials;
  uint64_t partial_bytes_freed = 0;
  std::vector<std::filesystem::path> removed_records;  // segment records whose partial is gone
  bool dry_run = false;                   // nothing was changed: the lists say what would go
};

// Keep the index.json entries whose ref_name is in `keep_refs` (and the referrers of
// those, kReferrerOfAnnotation), remove the rest and
// everything only they reached. Fails, with nothing changed, when index.json
// cannot be read or a kept manifest is missing or unparsable; a failure while
// deleting names the path (a re-run finishes the job).
[[nodiscard]] core::Result<GcReport> gc(Store& store, const std::set<std::string>& keep_refs,
                                        const GcOptions& opts = {});

}  // namespace ferry::store
