// Bundles: every selected image in one docker-load tarball, each blob once (all
// platforms in index.json, the host's in manifest.json, ferry-bundle.json naming
// every reference), or a delta that leaves out the layers a receipt of the other
// side lists (manifests and configs stay).
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "store/store.h"

namespace ferry::airgap {

struct BundleReference {
  reference::Reference ref;
  std::vector<manifest::Descriptor> entries;  // its index.json entries
};

struct BundleOptions {
  bool keep_zstd = false;  // zstd layers as fetched (default: as plain tars)
  // A delta: the layers the receipt lists, and the receipt file's digest
  // ("sha256:...") that the bundle names as what it is a delta against. Empty: a
  // full bundle.
  std::set<digest::Digest> omit_layers;
  std::string since;
};

struct BundleReport {
  size_t references = 0, images = 0;
  // One line per reference whose registry index could not be kept byte for byte
  // (the store lacks some of its manifests): its images are in the bundle anyway.
  std::vector<std::string> notes;
};

// Writes `out` (no file is left behind on error). The caller checks the output as
// every command does before exiting 0.
[[nodiscard]] core::Result<BundleReport> write_bundle(const store::Store& store,
                                                      const std::vector<BundleReference>& refs,
                                                      const std::filesystem::path& out, const BundleOptions& opts);

}  // namespace ferry::airgap
