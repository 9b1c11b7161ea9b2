// Reading image tarballs back: a scan of every entry (sha256 of each file, the
// uncompressed digest of gzip'd files not named by digest), then the checks of
// `ferry verify TAR` and the image walk `ferry import` follows.
//
// Formats: docker-archive as docker save (before and since Docker 25), skopeo and
// ferry write it (manifest.json: Config, RepoTags, Layers; layers named
// blobs/sha256/<hex>, <id>/layer.tar or <diff_id>.tar), and OCI layouts in a tar
// (index.json -> manifests -> config and layers, all blobs/sha256/<hex>).
//
// Memory is bounded: one scan entry per tar entry plus the manifests and configs
// (each at most its kMax*Size) read back one at a time with pread. Entry names are
// validated by TarReader (no "..", no absolute names); a name in manifest.json or a
// symlink target that would leave the archive is a problem, never a path.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "export/tar_reader.h"
#include "manifest/manifest.h"

namespace ferry::exporter {

namespace fs = std::filesystem;

struct ScannedEntry {
  TarEntry entry;
  digest::Digest sha256;                   // of the content (regular files)
  std::optional<digest::Digest> diff_id;   // gzip'd content not under blobs/: its uncompressed sha256
  bool named_by_digest = false;            // blobs/sha256/<hex>
  bool matches_name = false;               // named_by_digest and sha256 == name
};

// An open archive and what its scan found.
class ArchiveScan {
 public:
  // Opens and scans `tar`. Fails only when the file cannot be opened; a malformed
  // tar ends the scan and is listed in problems().
  [[nodiscard]] static core::Result<ArchiveScan> scan(const fs::path& tar);
  ArchiveScan(ArchiveScan&&) noexcept;
  ArchiveScan& operator=(ArchiveScan&&) = delete;
  ~ArchiveScan();

  const fs::path& path() const { return path_; }
  int fd() const { return fd_; }
  const std::vector<std::string>& problems() const { return problems_; }
  const std::map<std::string, ScannedEntry>& entries() const { return entries_; }
  // The regular file `name` names, following symlinks and hard links inside the
  // archive; nullptr when absent or leaving it.
  const ScannedEntry* find(const std::string& name) const;
  // The content of a small entry (manifests, configs, JSON), at most `limit` bytes.
  [[nodiscard]] core::Result<std::string> read(const ScannedEntry& e, uint64_t limit) const;

 private:
  ArchiveScan() = default;
  fs::path path_;
  int fd_ = -1;
  std::map<std::string, ScannedEntry> entries_;
  std::vector<std::string> problems_;
};

// One image found in an archive.
struct ArchiveImage {
  std::string name;                  // a tag, ref name annotation, or the config digest
  std::vector<std::string> ref_names;  // full references when known (index.json), else RepoTags
  std::optional<manifest::Descriptor> manifest;  // through index.json: the manifest as named there
  std::optional<manifest::Descriptor> entry;     // through index.json: the entry it was reached from (an index, or manifest)
  bool artifact = false;                         // an OCI artifact (no rootfs, no image config)
  std::string config_entry;
  digest::Digest config_digest;
  std::vector<std::string> layer_entries;  // "" for an absent foreign layer
  std::vector<manifest::Descriptor> layers;  // from the manifest (OCI), or synthesised
  std::vector<std::string> problems;
};

struct ArchiveReport {
  std::string format;  // "docker-archive", "oci-archive", "unknown"
  std::vector<ArchiveImage> images;        // one per manifest.json item, else per index.json image
  std::vector<ArchiveImage> index_images;  // the images index.json names (with their manifests)
  std::vector<std::string> problems;  // archive-wide: tar errors, corrupt blobs, no manifest
  std::set<digest::Digest> good_blobs;  // blobs/sha256 entries that hash to their names
  // From ferry-bundle.json, when the archive has one: the images by reference, and
  // for a delta bundle the layers left out (absent by design, not a problem).
  bool bundle = false;
  std::string since;
  std::vector<std::pair<std::string, manifest::Descriptor>> bundle_images;
  std::map<digest::Digest, int64_t> omitted;
  bool ok() const;
  // Every problem as one line: archive-wide ones as they are, then "<image>: <problem>".
  std::vector<std::string> problem_lines() const;
};

// The checks of `ferry verify TAR`: every blobs/sha256/<hex> entry hashes to its
// name; through manifest.json, each image's config and layers exist, configs hash
// to their names, legacy layers' diff_ids match the config; through index.json,
// every manifest, config and layer exists with its descriptor's size and digest.
ArchiveReport check_archive(const ArchiveScan& scan);

}  // namespace ferry::exporter
