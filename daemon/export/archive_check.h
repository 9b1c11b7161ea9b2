// Reading image tarballs back: a scan of every entry (sha256 of each file and, in
// the same read, the uncompressed digest of each gzip or zstd file), then the
// checks of `ferry verify TAR` and the image walk `ferry import` follows.
//
// Every layer an image names is checked against its config's rootfs.diff_ids, in
// order, whatever it is stored as (gzip, zstd or plain; named by digest or not):
// a tarball docker load would reject for a diff_id does not verify. The scan reads
// each entry once and decodes it while hashing, so a layer shared by many images
// is decoded once; the check is a lookup.
//
// Formats: docker-archive as docker save (before and since Docker 25), skopeo and
// ferry write it (manifest.json: Config, RepoTags, Layers; layers named
// blobs/sha256/<hex>, <id>/layer.tar or <diff_id>.tar), and OCI layouts in a tar
// (index.json -> manifests -> config and layers, all blobs/sha256/<hex>).
//
// Memory is bounded: one scan entry per kept tar entry (at most
// ScanOptions::max_entries, names at most max_name_bytes together) plus the manifests and configs
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

#include "codec/layer_decoder.h"
#include "core/error.h"
#include "digest/digest.h"
#include "export/tar_reader.h"
#include "manifest/manifest.h"

namespace ferry::exporter {

namespace fs = std::filesystem;

struct ScannedEntry {
  TarEntry entry;
  digest::Digest sha256;                   // of the content (regular files)
  codec::Compression compression = codec::Compression::None;  // from the first bytes
  // The sha256 of the uncompressed content: sha256 itself for plain content; for
  // gzip or zstd the decoded stream's, unset when not decoded (ScanOptions) or
  // when decoding failed (decode_error says why).
  std::optional<digest::Digest> diff_id;
  std::string decode_error;
  bool named_by_digest = false;            // blobs/sha256/<hex>
  bool matches_name = false;               // named_by_digest and sha256 == name
  // A blobs/sha256/<hex> entry that is a symlink or hard link: the regular entry it
  // resolves to inside the archive (its sha256 copied above), nullptr when it leads
  // nowhere. Such a blob is checked and imported through its target.
  const ScannedEntry* link_target = nullptr;
};

// Caps on what a scan keeps in memory (#13): an image archive holds a few
// entries per blob, so a tar beyond these is refused as not an image archive.
inline constexpr size_t kMaxArchiveEntries = 100000;
inline constexpr uint64_t kMaxArchiveNameBytes = 64ull << 20;  // all kept names together

struct ScanOptions {
  // false (`ferry verify --quick`): hash only; compressed entries get no diff_id
  // and their diff_ids are reported as not checked.
  bool decode = true;
  size_t max_entries = kMaxArchiveEntries;          // tests lower them
  uint64_t max_name_bytes = kMaxArchiveNameBytes;
};

// An open archive and what its scan found.
class ArchiveScan {
 public:
  // Opens and scans `tar`. Fails only when the file cannot be opened; a malformed
  // tar ends the scan and is listed in problems().
  [[nodiscard]] static core::Result<ArchiveScan> scan(const fs::path& tar, const ScanOptions& opts = {});
  bool decoded() const { return decoded_; }
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
  bool decoded_ = true;
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
  size_t diff_ids_checked = 0;    // layers whose uncompressed digest matched the config
  size_t diff_ids_unchecked = 0;  // compressed layers not decoded (ScanOptions::decode off)
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
// to their names; through index.json, every manifest, config and layer exists with
// its descriptor's size and digest, and a layer's content is the compression its
// media type names (a "+gzip" layer that is not gzip is a problem). Both ways,
// every layer present decompresses and its uncompressed sha256 is the config's
// diff_id at its position.
ArchiveReport check_archive(const ArchiveScan& scan);

}  // namespace ferry::exporter
