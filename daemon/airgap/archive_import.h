// import_archive: the blobs of a checked image tarball into the store, for
// `ferry import` on the offline side of an air gap.
//
// The one place in `export` that writes the store, and only through its verified
// path: every blob goes through Store::begin_ingest/commit, which checks size and
// sha256 before the blob gets its name, so nothing unverified lands. An archive
// with any problem (check_archive) imports nothing; a delta bundle imports nothing
// unless every layer it left out is already in the store. References are returned,
// not recorded: the caller merges several archives and writes index.json once,
// after all their blobs are in.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "export/archive_check.h"
#include "manifest/manifest.h"
#include "store/store.h"

namespace ferry::airgap {

struct ImportResult {
  size_t blobs_added = 0;
  size_t blobs_present = 0;  // already in the store
  uint64_t bytes_added = 0;
  // Full reference -> its image manifests (with platforms), as index.json records them.
  std::map<std::string, std::vector<manifest::Descriptor>> references;
};

// The references an archive names, normalised (docker.io/library/…), with their
// manifests: from ferry-bundle.json, else index.json's name annotations. An image
// without a name is left out (its blobs still import).
std::map<std::string, std::vector<manifest::Descriptor>> archive_references(const exporter::ArchiveReport& report);

// Layers a delta bundle left out that the store does not hold: one line each.
std::vector<std::string> missing_omitted(const store::Store& store, const exporter::ArchiveReport& report);

// Checks (report must be check_archive(scan)), then ingests every blob the archive
// holds and the store lacks. An archive without index.json (skopeo's docker-archive,
// docker save before 25) gets an OCI manifest written per image, over its config
// and layers as they are in the tar (a new manifest digest). InvalidInput when the
// report has problems; NotFound when omitted layers are missing (each named).
[[nodiscard]] core::Result<ImportResult> import_archive(store::Store& store, const exporter::ArchiveScan& scan,
                                                        const exporter::ArchiveReport& report);

}  // namespace ferry::airgap
