// verify: is the store what it claims to be?
//
// verify() hashes every file in blobs/sha256 against its name (streamed through a
// fixed buffer), checks that index.json parses and that every blob its entries
// reach exists with its descriptor's size: each entry's manifest, an index's image
// children, configs and layers. Every layer an image config describes is also
// decompressed (gzip or zstd, by its magic bytes) in the same read that hashes it,
// and its uncompressed sha256 compared with the config's diff_id; its content must
// be the compression its media type names. Foreign (non-distributable) layers and an index's
// non-image children (attestations) may be absent; when present they are checked.
// Stray temporary files are problems; ingest/*.partial files are resumable
// downloads and only listed. Read-only: verify never changes the store.
//
// reach() is the walk shared with gc: everything reachable from one index.json
// entry, with the manifests that could not be read named.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "manifest/manifest.h"
#include "store/store.h"

namespace ferry::store {

// One blob reachable from an index.json entry.
struct ReachedBlob {
  enum class Role { Manifest, Config, Layer };  // Manifest: image manifest or index
  manifest::Descriptor descriptor;
  Role role = Role::Manifest;
  std::string via;       // the reference it was reached from, for messages
  bool required = true;  // false: may be absent (foreign layer, non-image index child)
};

std::string_view to_string(ReachedBlob::Role role);

// An image manifest reached: its config and layers, in order.
struct ReachedImage {
  manifest::Descriptor config;
  std::vector<manifest::Descriptor> layers;
  std::string via;
};

struct Reach {
  std::vector<ReachedBlob> blobs;     // in walk order; a digest may repeat
  std::vector<ReachedImage> images;   // every image manifest present and parsed
  std::vector<std::string> problems;  // manifests present but unreadable or unparsable
};

// Everything reachable from `entry`. A manifest that is absent is listed (its
// children cannot be); one that cannot be read or parsed is a problem. An entry
// annotated with kSchema1DigestAnnotation also reaches that schema1 payload (size
// unknown, not parsed), so gc keeps it and verify requires it.
Reach reach(const Store& store, const IndexEntry& entry);


struct VerifyOptions {
  bool hash_content = true;  // false: names, sizes and references only (fast)
  // false (`verify --quick`): layers are hashed but not decompressed, so their
  // diff_ids are not checked. Needs hash_content.
  bool check_diff_ids = true;
};

struct VerifyProblem {
  enum class Kind {
    Corrupt,       // content does not hash to its name
    BadName,       // a file in blobs/sha256 whose name is not a sha256 hex digest
    Missing,       // a required blob is absent
    SizeMismatch,  // blob size differs from its descriptor
    BadManifest,   // a manifest that cannot be read or parsed
    BadIndex,      // index.json unreadable or not an OCI index
    BadLayer,      // a layer that does not decompress, is not its declared compression,
                   // or whose uncompressed digest is not its config's diff_id
    StrayFile,     // temporary file left by an interrupted write
    Io,            // a file or directory that could not be read
  };
  Kind kind;
  std::string message;  // one line naming the digest or path
};

struct PartialFile {
  std::filesystem::path path;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

// Every ingest/*.partial file, with its size and modification time.
[[nodiscard]] core::Result<std::vector<PartialFile>> list_partials(const Store& store);

// Every ingest/*.segments record whose .partial is gone (a kill between a commit's
// rename and the record's removal): nothing will ever read it.
[[nodiscard]] core::Result<std::vector<std::filesystem::path>> orphan_segment_records(const Store& store);

struct VerifyReport {
  std::vector<VerifyProblem> problems;
  std::vector<PartialFile> partials;  // resumable downloads, not problems
  size_t index_entries = 0;
  size_t blobs = 0;             // files in blobs/sha256 with valid names
  uint64_t blob_bytes = 0;
  size_t reachable = 0;         // distinct digests reached from index.json
  size_t unreferenced = 0;      // blobs nothing reaches (gc removes them)
  uint64_t unreferenced_bytes = 0;
  size_t layers = 0;            // distinct layer blobs configs describe
  size_t diff_ids_checked = 0;  // of those, decompressed and compared with their diff_id
  bool ok() const { return problems.empty(); }
};

// Checks the whole store; problems go into the report. Fails only when the store
// cannot be examined at all (blobs/sha256 unreadable).
[[nodiscard]] core::Result<VerifyReport> verify(const Store& store, const VerifyOptions& opts = {});

}  // namespace ferry::store
