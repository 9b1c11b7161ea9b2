// Import: images carried across the gap into the store, without network.
//
// The source is a bundle (full or delta), any docker-archive or oci-archive tarball,
// or an export directory (its SHA256SUMS checked first, then every *.tar). Every
// tarball is checked whole (exporter::check_archive) before anything of any of them
// lands; a delta's left-out layers must already be in the store. Blobs enter only
// through the store's verified ingest; index.json gets the references last. The
// caller holds the store lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/store.h"

namespace ferry::airgap {

struct ImportedReference {
  std::string reference;
  size_t manifests = 0;  // index.json entries recorded for it
};

struct ImportReport {
  size_t tarballs = 0;
  size_t blobs_added = 0, blobs_present = 0;
  uint64_t bytes_added = 0;
  std::vector<ImportedReference> references;  // sorted by reference

  std::vector<std::string> names() const;
};

// On failure nothing of the source is referenced in index.json (blobs already
// verified and ingested may stay; gc takes them). `problems` gets one line per
// thing that did not verify or is missing ("PATH: what"), the error one line that
// sums them up.
[[nodiscard]] core::Result<ImportReport> import_source(const std::filesystem::path& src, store::Store& store,
                                                       std::vector<std::string>& problems);

}  // namespace ferry::airgap
