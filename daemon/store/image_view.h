// The store's one image view: manifests, indexes and configs read back with every
// byte checked against the descriptor that names them (size when known, sha256),
// then parsed. Export, push, the pull's platform expansion and its diff_id check
// all read images back this way, so a blob changed on disk after its commit is
// refused by name wherever it is read, never carried, pushed or tagged.
//
// reach() (store/verify.h) is not built on this view on purpose: gc and verify walk
// a damaged store and list what they cannot read, where these calls refuse it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "manifest/manifest.h"
#include "store/store.h"

namespace ferry::store {

// The bytes of `d`, refused (NotFound, SizeMismatch, DigestMismatch, or the read's
// error) unless they are what `d` names; `what` ("manifest", "config", ...) starts
// the messages. At most `max_size` bytes are read.
[[nodiscard]] core::Result<std::string> read_verified(const Store& store, const manifest::Descriptor& d,
                                                      uint64_t max_size, std::string_view what);

// A manifest (image manifest or index) read back, verified and parsed as the
// media type of its descriptor says.
struct StoredManifest {
  manifest::Descriptor descriptor;
  std::string bytes;  // exactly as stored: the registry's bytes
  manifest::Parsed parsed;
};
[[nodiscard]] core::Result<StoredManifest> read_manifest(const Store& store, const manifest::Descriptor& d);

struct StoredIndex {
  manifest::Descriptor descriptor;
  std::string bytes;
  manifest::Index index;
};

// An index read back with every index below it: what platform expansion (export,
// sync, bundles) and an export that keeps the registry's own index need. Nesting is
// bounded by manifest::kMaxIndexDepth (each index once, so no cycle loops). The
// leaves (image manifests, attestations, artifacts) are named, not read.
struct IndexTree {
  StoredIndex top;
  std::vector<StoredIndex> nested;           // below the top, depth first, each once
  std::vector<manifest::Descriptor> leaves;  // every non-index entry of the tree, each once
  bool complete = false;                     // the store holds every leaf (right size)

  // The platform images of the tree (attestations, unknown/unknown skipped).
  std::vector<manifest::Descriptor> images() const;
};

// Reads index `d` and the indexes below it. NotFound names an index the store lacks;
// DigestMismatch/SizeMismatch a corrupt one; InvalidInput one too deep or not an index.
[[nodiscard]] core::Result<IndexTree> read_index_tree(const Store& store, const manifest::Descriptor& d);

// The image manifests named by index.json entries: an image entry itself, an
// index's platform images (nested indexes too).
[[nodiscard]] core::Result<std::vector<manifest::Descriptor>> platform_images(
    const Store& store, const std::vector<manifest::Descriptor>& entries);

}  // namespace ferry::store
