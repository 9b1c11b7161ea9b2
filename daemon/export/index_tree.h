// An index read back from the store with every index below it: what platform
// expansion (export, sync) and an export that keeps the registry's own index need.
//
// Every index is read with its size and sha256 checked against its descriptor;
// nesting is bounded by manifest::kMaxIndexDepth (each index once, so no cycle
// loops). The leaves (image manifests, attestations, artifacts) are named, not
// read: `complete` says whether the store holds every one of them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "manifest/manifest.h"
#include "store/store.h"

namespace ferry::exporter {

struct StoredIndex {
  manifest::Descriptor descriptor;
  std::string bytes;  // exactly as stored (the registry's bytes)
  manifest::Index index;
};

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
[[nodiscard]] core::Result<IndexTree> read_index_tree(const store::Store& store, const manifest::Descriptor& d);

}  // namespace ferry::exporter
