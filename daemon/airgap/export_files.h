// The files of one reference in an export set: one docker-load tarball (and/or OCI
// archive) per platform image, named by sync::ExportNames. Shared by `ferry sync`
// (after or during a run) and `ferry export` (from the store).
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "airgap/export_set.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "store/store.h"
#include "sync/export_names.h"

namespace ferry::airgap {

struct ExportFormats {
  bool docker = true;
  bool oci_archive = false;
  bool keep_zstd = false;  // docker tarballs: zstd layers as fetched (DockerArchiveOptions::keep_zstd)
};

struct ExportedFiles {
  std::vector<std::string> names;  // every file of the reference in the new set
  bool written = false;            // at least one was written (not reused)
};

// Adds the files of `ref` (its index.json entries) to `set`. A file the current set
// holds for exactly the same manifests, format and reference is hard-linked instead
// of rewritten unless `rewrite`. File names come from `names`, made once for every
// reference of the run so that names that would collide are told apart before
// anything is written. Thread-safe for different references (the builder locks).
[[nodiscard]] core::Result<ExportedFiles> export_reference(const store::Store& store, ExportSetBuilder& set,
                                                           const reference::Reference& ref,
                                                           const std::vector<manifest::Descriptor>& entries,
                                                           const ExportFormats& formats, bool rewrite,
                                                           const sync::ExportNames& names);

// Keeps the current set's files of `reference` in the new set (an image that
// failed to sync keeps its last good tarballs). Returns their names.
[[nodiscard]] core::Result<std::vector<std::string>> carry_reference(ExportSetBuilder& set,
                                                                     const std::string& reference);

}  // namespace ferry::airgap
